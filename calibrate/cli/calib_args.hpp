#pragma once
// Command-line values of moesim-calibrate that need parsing or checking beyond CLI11: comma
// lists, synthetic gate specs, the model (a preset or explicit dimensions) and its gate.
// Plain C++ (no CUDA) so calibrate_cpu_tests can test it; bad values throw InputError.
#include <string>
#include <vector>

#include "kernels/gate_config.hpp"
#include "moe/gate.hpp"
#include "spec/model_spec.hpp"

namespace moesim::calib {

// "1,2,4" -> {1, 2, 4}; every value in [min, max]; `what` names the option in messages.
std::vector<int> parse_int_list(const std::string& text, const std::string& what, int min, int max);
std::vector<double> parse_double_list(const std::string& text, const std::string& what, double min, double max);
// Token counts 1, 2, 4, ..., max_tokens (powers of two).
std::vector<int> powers_of_two(int max_tokens);

// A synthetic gate: "uniform", "zipf:S" (S in [0, 20], the Zipf exponent, 0 = uniform) or
// "lognormal:SIGMA" (expert popularity exp(SIGMA x N(0,1)), seeded; SIGMA in (0, 10]).
struct GateArg {
  GateSpec spec;
  std::string label;  // canonical text, e.g. "zipf:1.2"
  double skew = 0;    // the Zipf exponent (0 for uniform and log-normal gates)
};
GateArg parse_gate_arg(const std::string& text);
GateArg zipf_gate(double skew);  // skew 0 gives "uniform"
GateArg lognormal_gate(double sigma);
// Whether a layer's gate label names the Zipf family the kernel tables are fitted on ("uniform",
// "zipf:S"); log-normal gates and traces are always held out.
bool zipf_family(const std::string& gate_label);

// The model of a run: --model PRESET, optionally overridden (or wholly given) by explicit dims.
struct ModelArgs {
  std::string model;                                       // preset name; "" = explicit dims only
  std::string name;                                        // name recorded for explicit dims ("" = "custom")
  int hidden = 0, experts = 0, top_k = 0, expert_ffn = 0;  // 0 = from the preset
  std::string gate_kind;                                   // "" = the preset's (softmax_topk unless deepseek-v3)
  int n_group = 0, topk_group = 0;                         // sigmoid gate groups; 0 = the preset's / 1
};
struct ResolvedModel {
  ModelSpec spec;  // the preset (or a minimal spec for explicit dims) with the dims applied
  GateConfig gate;
};
// Throws InputError for an unknown preset, missing dims, or dims the kernels cannot run
// (hidden and expert_ffn must be multiples of 8 for 16-byte vector access; the gate's limits).
ResolvedModel resolve_model(const ModelArgs& args);
// The gate each preset uses: deepseek-v3 sigmoid with 8 groups, top-4 groups, scaling 2.5;
// olmoe-1b-7b softmax without renormalisation; every other model softmax renormalised over top-k.
GateConfig preset_gate_config(const ModelSpec& spec);

// argv joined with spaces, arguments with spaces or quotes single-quoted (shell style).
std::string join_command_line(int argc, const char* const* argv);
// "dir/h100.toml" + "qwen3-30b-a3b" -> "dir/h100.qwen3-30b-a3b.toml" (one profile per model).
std::string path_with_suffix(const std::string& path, const std::string& suffix);

}  // namespace moesim::calib
