#pragma once
// Measurement procedures shared by several subcommands: one checked, timed and printed table row,
// the copy-bandwidth ceiling, the kernel sweep of one model, and one whole-layer measurement.
// Each goes through the harness (bench/harness.hpp: verify, then time) and prints with the one
// table printer (bench/table.hpp).
#include <algorithm>
#include <string>
#include <vector>

#include "bench/harness.hpp"
#include "bench/table.hpp"
#include "cli/calib_args.hpp"
#include "cli/gpu_session.hpp"
#include "fit/measurements.hpp"
#include "gpu/profile.hpp"
#include "kernels/expert_ffn.hpp"
#include "ops/moe_layer.hpp"

namespace moesim::calib {

// Measures `op`, prints its row of `table` (after `labels`), and throws VerifyError once the row
// is printed when the check found a wrong value. `copy_GBps` > 0 fills the copy column.
OpResult measure_row(Harness& harness, Operation& op, const ResultTable& table, const std::vector<std::string>& labels,
                     double copy_GBps = 0);

struct CopyResult {
  double bytes = 0;  // buffer size (each way)
  OpResult memcpy;   // cudaMemcpyAsync
  OpResult kernel;   // the 16-byte vector copy kernel
  double best_GBps() const { return std::max(memcpy.algbw_GBps(), kernel.algbw_GBps()); }
};
// cudaMemcpyAsync and the 16-byte vector copy kernel over `bytes`, both checked in full; their
// rows are printed to `table` (one label column) when it is given.
CopyResult measure_copy(GpuSession& gpu, BenchOptions options, std::size_t bytes, std::uint64_t seed,
                        const ResultTable* table = nullptr);

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
  double copy_GBps = 0;           // for the copy column (0 = not shown)
  bool trim_to_fit = false;       // drop the largest token counts that do not fit in the GPU's memory
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
// fp8 expert rows (weight_bytes 1; e4m3 with DeepSeek-V3's block scales, kernels/expert_ffn_fp8.hpp):
// the expert FFN alone with even loads 1, 4, 16, ... over all the model's experts and each of
// sweep.expert_calls, as far as the largest of sweep.tokens; skews and the GEMM mode do not apply.
void run_fp8_expert_sweep(GpuSession& gpu, const KernelSweep& sweep, fit::Measurements& out);

// Whether `bytes` of device memory for `what` fit in the GPU's free memory with the headroom the
// layer keeps (cuBLAS workspaces, the L2 flush buffer, the CUDA context); `why` says why not.
bool device_fits(double bytes, const std::string& what, std::string& why);

// The table of layer phases: tokens, gate (the routing's label), max_load, phase, then the results.
ResultTable layer_table();
// Gate, permute, experts and combine timed one by one, then the whole layer as one; each checked
// and printed as a row of `table` (layer_table()), followed by the sum of the phases.
fit::LayerMeasurement measure_layer(MoeLayer& layer, Harness& harness, const ResultTable& table,
                                    const std::string& gate_label, double skew);

// The fitted profile of `model` over `base_path` from `m`, notes printed; written to `out_path`
// when not empty (io::write_profile).
Profile fit_and_write_profile(const fit::Measurements& m, const std::string& base_path, const std::string& model,
                              const std::string& out_path);

}  // namespace moesim::calib
