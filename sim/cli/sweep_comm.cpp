// Sweep distribution over MPI ranks (see sweep_comm.hpp); a single process without MPI.
#include "cli/sweep_comm.hpp"

#include <cstdlib>

#include "core/error.hpp"

#ifdef MOESIM_HAVE_MPI
#include <mpi.h>
#endif

namespace moesim::cli {

#ifdef MOESIM_HAVE_MPI
namespace {
// A row's tag is kTagRow plus its RunStatus.
constexpr int kTagDone = 1, kTagRow = 2;

bool mpi_running() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
}
}  // namespace

SweepComm::SweepComm() {
  if (!mpi_running()) return;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void SweepComm::share_pending(std::vector<std::size_t>& pending, std::string& error) const {
  if (!distributed()) return;
  unsigned long long n[2] = {pending.size(), error.size()};
  MPI_Bcast(n, 2, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  error.resize(n[1]);
  if (n[1] > 0) MPI_Bcast(error.data(), static_cast<int>(n[1]), MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<unsigned long long> ids(pending.begin(), pending.end());
  ids.resize(n[0]);
  if (n[0] > 0) MPI_Bcast(ids.data(), static_cast<int>(n[0]), MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  pending.assign(ids.begin(), ids.end());
}

void SweepComm::send_row(const std::string& row, RunStatus status) const {
  MPI_Send(row.data(), static_cast<int>(row.size()), MPI_CHAR, 0, kTagRow + static_cast<int>(status), MPI_COMM_WORLD);
}

void SweepComm::send_done() const { MPI_Send(nullptr, 0, MPI_CHAR, 0, kTagDone, MPI_COMM_WORLD); }

void SweepComm::gather(const std::function<void(const std::string&, RunStatus)>& on_row) const {
  int done = 0;
  std::string row;
  while (done < size_ - 1) {
    MPI_Status st;
    MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    int len = 0;
    MPI_Get_count(&st, MPI_CHAR, &len);
    row.resize(static_cast<std::size_t>(len));
    MPI_Recv(row.data(), len, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (st.MPI_TAG == kTagDone)
      ++done;
    else
      on_row(row, static_cast<RunStatus>(st.MPI_TAG - kTagRow));
  }
}

bool mpi_start(int& argc, char**& argv) {
  // Only under a launcher: a plain `moesim` never pays for (or depends on) MPI start-up.
  if (!std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("PMI_SIZE") && !std::getenv("PMIX_RANK")) return false;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  return true;
}

void mpi_finish() {
  if (mpi_running()) MPI_Finalize();
}

#else

SweepComm::SweepComm() = default;
void SweepComm::share_pending(std::vector<std::size_t>&, std::string&) const {}
void SweepComm::send_row(const std::string&, RunStatus) const { throw Error("sweep: no MPI in this build"); }
void SweepComm::send_done() const {}
void SweepComm::gather(const std::function<void(const std::string&, RunStatus)>&) const {}
bool mpi_start(int&, char**&) { return false; }
void mpi_finish() {}

#endif

}  // namespace moesim::cli
