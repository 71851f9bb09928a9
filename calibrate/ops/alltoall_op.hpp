#pragma once
// NCCL all-to-all across every local GPU from one process: the ranks (ncclCommInitAll, one stream
// and one send / receive buffer per GPU) and the operation of one size, nccl-tests conventions:
// bytes = each rank's send buffer, split evenly over the ranks (itself included); algbw = bytes /
// time; busbw = algbw (n - 1) / n. Per rank a grouped ncclSend / ncclRecv to every peer.
#include <nccl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "bench/device_buffer.hpp"
#include "bench/harness.hpp"
#include "bench/operation.hpp"

namespace moesim::calib {

class NcclRanks {
 public:
  // Every local GPU (`gpus` of them, >= 2), send and receive buffers of `max_words` 32-bit words each.
  NcclRanks(int gpus, std::size_t max_words);
  ~NcclRanks();
  NcclRanks(const NcclRanks&) = delete;
  NcclRanks& operator=(const NcclRanks&) = delete;

  int size() const { return static_cast<int>(comms_.size()); }
  std::vector<RankStream> streams() const;  // for the Harness: rank r = device r
  ncclComm_t comm(int rank) const { return comms_[rank]; }
  cudaStream_t stream(int rank) const { return streams_[rank]; }
  DeviceBuffer<std::uint32_t>& send(int rank) { return send_[rank]; }
  DeviceBuffer<std::uint32_t>& recv(int rank) { return recv_[rank]; }
  std::size_t max_words() const { return max_words_; }

 private:
  void release() noexcept;
  std::size_t max_words_ = 0;
  std::vector<ncclComm_t> comms_;
  std::vector<cudaStream_t> streams_;
  std::vector<DeviceBuffer<std::uint32_t>> send_, recv_;
};

// `count` words from every rank to every rank: the send buffers filled (rank r's chunk for p is
// word_test_value(alltoall_seed(r, p), i)) and the receive buffers cleared when it is made. The
// check compares every word of chunks up to 4 Mi words, the first and last 64 Ki of larger ones.
std::unique_ptr<Operation> make_alltoall_op(NcclRanks& ranks, std::size_t count);

}  // namespace moesim::calib
