// Benchmark: writes a DeepSeek-V3-sized routing trace (u16 ids, no weights) and streams it back
// on one core, assuming the file stays in the page cache (so it measures decoding, not the disk).
// Usage: bench_trace_replay PATH [TARGET_MB=1024]. PATH is created, then deleted at the end.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "bench_util.hpp"
#include "trace/trace.hpp"

namespace {

using moesim::bench::cpu_seconds;
using moesim::bench::current_rss_mib;
using moesim::bench::peak_rss_mib;

// A step where every token picks top_k distinct experts from a xorshift stream; `variant`
// changes the stream, so the writer does not just see one step over and over.
moesim::TraceStep make_step(const moesim::TraceHeader& h, int tokens_per_rank, std::uint64_t variant) {
  moesim::TraceStep s;
  const auto blocks = static_cast<std::size_t>(h.layers) * static_cast<std::size_t>(h.ranks);
  s.tokens.assign(blocks, static_cast<std::uint32_t>(tokens_per_rank));
  s.index(h.top_k);
  s.experts.reserve(blocks * static_cast<std::size_t>(tokens_per_rank * h.top_k));
  std::uint64_t x = 0x9E3779B97F4A7C15ULL * (variant + 1);
  std::vector<std::uint32_t> used(static_cast<std::size_t>(h.experts), 0);
  std::uint32_t stamp = 0;
  for (std::size_t t = 0; t < blocks * static_cast<std::size_t>(tokens_per_rank); ++t) {
    ++stamp;
    for (int j = 0; j < h.top_k;) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const auto e = static_cast<std::size_t>(x % static_cast<std::uint64_t>(h.experts));
      if (used[e] == stamp) continue;
      used[e] = stamp;
      s.experts.push_back(static_cast<std::int32_t>(e));
      ++j;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s PATH [TARGET_MB=1024]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const double target_mb = argc == 3 ? std::atof(argv[2]) : 1024.0;
  if (!(target_mb > 0)) {
    std::fprintf(stderr, "TARGET_MB must be > 0\n");
    return 2;
  }
  try {
    moesim::TraceHeader h;  // DeepSeek-V3: 58 MoE layers, 256 routed experts, top-8; 72 ranks
    h.layers = 58;
    h.experts = 256;
    h.top_k = 8;
    h.ranks = 72;
    const int tokens_per_rank = 128;
    std::vector<moesim::TraceStep> variants;
    for (std::uint64_t v = 0; v < 4; ++v) variants.push_back(make_step(h, tokens_per_rank, v));
    const double step_bytes = static_cast<double>(variants[0].experts.size()) * 2.0 +
                              4.0 * static_cast<double>(variants[0].tokens.size()) + 20.0;
    const auto steps = static_cast<std::uint32_t>(target_mb * 1e6 / step_bytes + 0.5);

    using Clock = std::chrono::steady_clock;
    const auto w0 = Clock::now();
    const double w0_cpu = cpu_seconds();
    {
      moesim::TraceWriter writer(path, h);
      for (std::uint32_t s = 0; s < steps; ++s) {
        variants[s % variants.size()].step = s;
        writer.write(variants[s % variants.size()]);
      }
      writer.close();
    }
    const double write_s = std::chrono::duration<double>(Clock::now() - w0).count();
    const double write_cpu_s = cpu_seconds() - w0_cpu;
    const double file_mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
    variants.clear();
    variants.shrink_to_fit();
    std::printf("trace: %u steps x %d layers x %d ranks x %d tokens x top-%d of %d experts\n", steps, h.layers, h.ranks,
                tokens_per_rank, h.top_k, h.experts);
    std::printf("written: %.1f MB in %.3f s = %.0f MB/s (%.0f MB per CPU-second)\n", file_mb, write_s,
                file_mb / write_s, file_mb / write_cpu_s);
    std::printf("RSS before reading: %.1f MiB now, %.1f MiB peak\n", current_rss_mib(), peak_rss_mib());

    const auto r0 = Clock::now();
    const double r0_cpu = cpu_seconds();
    moesim::TraceReader reader(path);
    moesim::TraceStep step;
    std::uint64_t assignments = 0, checksum = 0, read_steps = 0;
    double rss_first = 0, peak_first = 0;
    while (reader.next(step)) {
      assignments += step.experts.size();
      checksum += static_cast<std::uint64_t>(step.experts.back()) + step.tokens[7];
      if (++read_steps == 1) {
        rss_first = current_rss_mib();
        peak_first = peak_rss_mib();
      }
    }
    const double read_s = std::chrono::duration<double>(Clock::now() - r0).count();
    const double read_cpu_s = cpu_seconds() - r0_cpu;
    const auto n = static_cast<double>(assignments);
    std::printf(
        "read: %llu steps, %.3e assignments in %.3f s = %.1f M assignments/s, %.0f MB/s "
        "(%.1f M assignments per CPU-second), checksum %llu\n",
        static_cast<unsigned long long>(read_steps), n, read_s, n / read_s / 1e6, file_mb / read_s,
        n / read_cpu_s / 1e6, static_cast<unsigned long long>(checksum));
    std::printf("RSS after the first step: %.1f MiB now, %.1f MiB peak\n", rss_first, peak_first);
    std::printf("RSS after all steps:      %.1f MiB now, %.1f MiB peak\n", current_rss_mib(), peak_rss_mib());
    std::filesystem::remove(path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_trace_replay: %s\n", e.what());
    std::filesystem::remove(path);
    return 1;
  }
  return 0;
}
