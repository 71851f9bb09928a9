#pragma once
// Measurement procedures shared by several subcommands: the copy-bandwidth ceiling, the kernel
// sweep of one model, and one checked whole-layer measurement. Each verifies before it times.
#include <string>
#include <vector>

#include "bench/timer.hpp"
#include "cli/calib_args.hpp"
#include "cli/gpu_session.hpp"
#include "fit/measurements.hpp"
#include "gpu/profile.hpp"
#include "kernels/expert_ffn.hpp"
#include "kernels/moe_layer.hpp"

namespace moesim::calib {

struct CopyResult {
  double bytes = 0;          // buffer size (each way)
  TimingStats memcpy_stats, kernel_stats;
  double memcpy_GBps = 0, kernel_GBps = 0;
  double best_GBps() const { return memcpy_GBps > kernel_GBps ? memcpy_GBps : kernel_GBps; }
};
// cudaMemcpyAsync and the 16-byte vector copy kernel over `bytes`, both checked in full.
CopyResult measure_copy(GpuSession& gpu, BenchOptions options, std::size_t bytes, std::uint64_t seed);

LayerShape layer_shape(const ResolvedModel& model);
// Throws Error "... does not fit: needs X GB, Y GB free" when the layer cannot be allocated.
void check_layer_fits(const LayerShape& shape, int max_tokens);
bool layer_fits(const LayerShape& shape, int max_tokens, std::string& why);

struct KernelSweep {
  ResolvedModel model;
  std::vector<int> tokens;
  std::vector<double> skews;
  GemmMode mode = GemmMode::Grouped;
  BenchOptions bench;
  std::uint64_t seed = 1;
  double copy_GBps = 0;  // for the "% of copy" column (0 = not shown)
  bool trim_to_fit = false;  // drop the largest token counts that do not fit in the GPU's memory
                             // instead of stopping (default sweeps, whose counts ascend)
  std::vector<int> expert_calls;  // also time the expert FFN alone with even loads over this many
                                  // experts per call (>= top_k, < experts), loads 1, 4, ..., 16384
};
// Experts per call of `kernels --expert-calls` by default: what one GPU holds under expert
// parallelism (EP8 to EP32 of 256 experts, EP2 to EP16 of 128).
inline constexpr const char* kDefaultExpertCalls = "8,16,32,64";
// The default token counts of a kernel sweep: 1, 2, 4, ..., 32768 (largest loads per expert reach
// a hot expert's; KernelSweep::trim_to_fit drops what a smaller GPU cannot hold).
inline constexpr int kDefaultSweepMaxTokens = 32768;
// gate (once per token count), permute, expert and combine rows appended to `out`; prints a table.
void run_kernel_sweep(GpuSession& gpu, const KernelSweep& sweep, fit::Measurements& out);

// Gate, permute, experts and combine timed one by one, then the whole layer as one; each checked.
fit::LayerMeasurement measure_layer(MoeLayer& layer, Bench& bench, const std::string& gate_label, double skew);
std::string layer_row_text(const fit::LayerMeasurement& m);  // one table line
std::string layer_header_text();

// The fitted profile of `model` over `base_path` from `m`, notes printed; written to `out_path`
// when not empty (io::write_profile).
Profile fit_and_write_profile(const fit::Measurements& m, const std::string& base_path, const std::string& model,
                              const std::string& out_path);

}  // namespace moesim::calib
