#pragma once
// How a sweep's runs are shared between processes. Without MPI (or outside mpirun) there is one
// process doing everything. Under MPI, rank 0 owns sweep.csv: it sends every rank the list of runs
// still to do and appends each row another rank sends back as soon as it arrives; ranks 1..N-1 run
// their share (runs i with i mod (N-1) = rank-1) on their threads. Only main threads call MPI.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "cli/sweep_rows.hpp"

namespace moesim::cli {

class SweepComm {
 public:
  SweepComm();
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }
  // Rank 0 passes its verdict and the runs to do; the others receive them. `error` not empty =
  // rank 0 failed before the sweep started: every rank then throws it.
  void share_pending(std::vector<std::size_t>& pending, std::string& error) const;
  // Ranks > 0: a finished row and its status, and the final "no more rows".
  void send_row(const std::string& row, RunStatus status) const;
  void send_done() const;
  // Rank 0: receives rows until every other rank is done.
  void gather(const std::function<void(const std::string& row, RunStatus status)>& on_row) const;

 private:
  int rank_ = 0;
  int size_ = 1;
};

// Starts MPI when this process was launched by an MPI launcher (and moesim was built with MPI);
// returns true when it did, so the caller finalizes with mpi_finish().
bool mpi_start(int& argc, char**& argv);
void mpi_finish();

}  // namespace moesim::cli
