// Device-to-device copy for the copy-bandwidth ceiling: cudaMemcpyAsync or our 16-byte vector
// kernel over the same buffers, every word checked against the generated source.
#include <fmt/format.h>

#include <algorithm>

#include "bench/expected_bytes.hpp"
#include "bench/harness.hpp"
#include "kernels/fill.hpp"
#include "ops/device_ops.hpp"
#include "reference/host_values.hpp"

namespace moesim::calib {

namespace {

class CopyOp final : public Operation {
 public:
  // Clears the destination, so the check sees only this method's writes.
  CopyOp(CopyBuffers& b, CopyMethod method) : b_(b), method_(method) { clear_destination(); }
  std::string name() const override {
    return method_ == CopyMethod::Memcpy ? "copy cudaMemcpyAsync" : "copy 16-byte kernel";
  }
  double bytes() const override { return copy_bytes(static_cast<double>(b_.src.bytes())); }
  void run(std::span<const cudaStream_t> streams) override {
    if (method_ == CopyMethod::Memcpy)
      MOESIM_CUDA_CHECK(
          cudaMemcpyAsync(b_.dst.get(), b_.src.get(), b_.src.bytes(), cudaMemcpyDeviceToDevice, streams[0]));
    else
      copy_vec16(b_.src.get(), b_.dst.get(), b_.src.bytes(), streams[0]);
  }
  // In chunks (bounded host memory).
  Verification verify() override {
    const std::size_t chunk = std::size_t{16} << 20;
    Verification v;
    for (std::size_t at = 0; at < b_.dst.size(); at += chunk) {
      const std::size_t n = std::min(chunk, b_.dst.size() - at);
      const std::vector<std::uint32_t> got = b_.dst.to_host(n, at);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t want = word_test_value(b_.seed, at + i);
        if (got[i] != want && v.wrong++ == 0)
          v.detail = fmt::format("copy: word {} is {:#x}, want {:#x}", at + i, got[i], want);
      }
      v.checked += static_cast<std::int64_t>(n);
    }
    if (v.wrong == 0) v.detail = fmt::format("{} MiB bit-exact", b_.dst.bytes() >> 20);
    return v;
  }

 private:
  void clear_destination() {
    MOESIM_CUDA_CHECK(cudaMemsetAsync(b_.dst.get(), 0, b_.dst.bytes(), b_.stream));
    sync_and_check(b_.stream, "clearing the copy destination");
  }
  CopyBuffers& b_;
  CopyMethod method_;
};

std::size_t copy_words(std::size_t bytes) {
  if (bytes == 0 || bytes % 16 != 0)
    throw Error(fmt::format("copy of {} bytes: need a positive multiple of 16", bytes));
  return bytes / 4;
}

}  // namespace

CopyBuffers::CopyBuffers(std::size_t bytes, std::uint64_t words_seed, cudaStream_t copy_stream)
    : src(copy_words(bytes)), dst(copy_words(bytes)), seed(words_seed), stream(copy_stream) {
  fill_words(src.get(), src.size(), seed, stream);
  sync_and_check(stream, "copy setup");
}

std::unique_ptr<Operation> make_copy_op(CopyBuffers& buffers, CopyMethod method) {
  return std::make_unique<CopyOp>(buffers, method);
}

}  // namespace moesim::calib
