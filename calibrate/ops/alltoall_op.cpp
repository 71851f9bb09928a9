// NCCL all-to-all of one size across the local GPUs (see alltoall_op.hpp): the ranks, the grouped
// send / receive, and the check of every chunk each GPU received.
#include "ops/alltoall_op.hpp"

#include <fmt/format.h>

#include <utility>

#include "bench/nccl_check.hpp"
#include "kernels/fill.hpp"
#include "reference/host_values.hpp"

namespace moesim::calib {

namespace {

class AlltoallOp final : public Operation {
 public:
  AlltoallOp(NcclRanks& ranks, std::size_t count);
  std::string name() const override { return "all-to-all"; }
  double bytes() const override { return 4.0 * static_cast<double>(count_) * ranks_.size(); }
  int ranks() const override { return ranks_.size(); }
  double busbw_factor() const override { return (ranks_.size() - 1.0) / ranks_.size(); }
  void run(std::span<const cudaStream_t> streams) override;
  Verification verify() override;

 private:
  NcclRanks& ranks_;
  std::size_t count_;
};

AlltoallOp::AlltoallOp(NcclRanks& ranks, std::size_t count) : ranks_(ranks), count_(count) {
  const int n = ranks_.size();
  if (count_ == 0 || count_ * static_cast<std::size_t>(n) > ranks_.max_words())
    throw Error(fmt::format("all-to-all of {} words per peer: outside (0, {}]", count_, ranks_.max_words() / n));
  for (int r = 0; r < n; ++r) {
    MOESIM_CUDA_CHECK(cudaSetDevice(r));
    fill_alltoall_send(ranks_.send(r).get(), count_, n, r, ranks_.stream(r));
    MOESIM_CUDA_CHECK(cudaMemsetAsync(ranks_.recv(r).get(), 0, 4 * count_ * n, ranks_.stream(r)));
  }
  MOESIM_CUDA_CHECK(cudaSetDevice(0));
}

void AlltoallOp::run(std::span<const cudaStream_t> streams) {
  const int n = ranks_.size();
  MOESIM_NCCL_CHECK(ncclGroupStart());
  for (int r = 0; r < n; ++r)
    for (int p = 0; p < n; ++p) {
      MOESIM_NCCL_CHECK(ncclSend(ranks_.send(r).get() + p * count_, count_, ncclUint32, p, ranks_.comm(r), streams[r]));
      MOESIM_NCCL_CHECK(ncclRecv(ranks_.recv(r).get() + p * count_, count_, ncclUint32, p, ranks_.comm(r), streams[r]));
    }
  MOESIM_NCCL_CHECK(ncclGroupEnd());
}

// Rank p's chunk from rank r must be what r generated for p.
Verification AlltoallOp::verify() {
  const std::size_t edge = 65536;
  const int n = ranks_.size();
  Verification v;
  for (int p = 0; p < n; ++p)
    for (int r = 0; r < n; ++r) {
      const std::size_t base = static_cast<std::size_t>(r) * count_;
      std::vector<std::pair<std::size_t, std::size_t>> ranges;  // [first, last) word ranges
      if (count_ <= (std::size_t{4} << 20))
        ranges = {{0, count_}};
      else
        ranges = {{0, edge}, {count_ - edge, count_}};
      for (const auto& [first, last] : ranges) {
        const std::vector<std::uint32_t> got = ranks_.recv(p).to_host(last - first, base + first);
        for (std::size_t i = first; i < last; ++i) {
          const std::uint32_t want = word_test_value(alltoall_seed(r, p), i);
          if (got[i - first] != want && v.wrong++ == 0)
            v.detail = fmt::format("all-to-all: GPU {} received word {} from GPU {} as {:#x}, want {:#x}", p, i, r,
                                   got[i - first], want);
        }
        v.checked += static_cast<std::int64_t>(last - first);
      }
    }
  if (v.wrong == 0) v.detail = fmt::format("all-to-all: {} words received as sent", v.checked);
  return v;
}

}  // namespace

NcclRanks::NcclRanks(int gpus, std::size_t max_words) : max_words_(max_words) {
  if (gpus < 2) throw Error(fmt::format("all-to-all needs >= 2 GPUs, not {}", gpus));
  comms_.assign(static_cast<std::size_t>(gpus), nullptr);
  try {
    MOESIM_NCCL_CHECK(ncclCommInitAll(comms_.data(), gpus, nullptr));
    for (int r = 0; r < gpus; ++r) {
      MOESIM_CUDA_CHECK(cudaSetDevice(r));
      cudaStream_t s = nullptr;
      MOESIM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      streams_.push_back(s);
      send_.emplace_back(max_words);
      recv_.emplace_back(max_words);
    }
    MOESIM_CUDA_CHECK(cudaSetDevice(0));
  } catch (...) {
    release();
    throw;
  }
}

NcclRanks::~NcclRanks() { release(); }

void NcclRanks::release() noexcept {
  send_.clear();
  recv_.clear();
  for (std::size_t r = 0; r < streams_.size(); ++r) {
    (void)cudaSetDevice(static_cast<int>(r));
    (void)cudaStreamDestroy(streams_[r]);
  }
  streams_.clear();
  for (ncclComm_t c : comms_)
    if (c) (void)ncclCommDestroy(c);
  comms_.clear();
  (void)cudaSetDevice(0);
}

std::vector<RankStream> NcclRanks::streams() const {
  std::vector<RankStream> out;
  for (std::size_t r = 0; r < streams_.size(); ++r) out.push_back({static_cast<int>(r), streams_[r]});
  return out;
}

std::unique_ptr<Operation> make_alltoall_op(NcclRanks& ranks, std::size_t count) {
  return std::make_unique<AlltoallOp>(ranks, count);
}

}  // namespace moesim::calib
