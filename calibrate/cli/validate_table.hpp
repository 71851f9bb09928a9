#pragma once
// The `validate` comparison: the simulator's ComputeModel prediction of one measured single-GPU
// MoE layer, phase by phase, and the error statistics. Assumption: the layer ran with bf16
// weights and bf16 activations throughout, so the model spec is the preset with weight, dispatch
// and combine bytes set to 2 (what the calibrator actually moved).
#include <string>
#include <vector>

#include "fit/measurements.hpp"
#include "gpu/profile.hpp"
#include "spec/model_spec.hpp"

namespace moesim::calib {

struct ValidateRow {
  std::string model;
  std::int64_t tokens = 0;
  double skew = 0;
  std::string gate;   // the layer's gate label ("uniform", "zipf:0.6", "lognormal:1", a trace)
  int experts = 0;    // experts in the measured layer: all the model's, or a GPU's slice under EP
  std::string phase;  // "gate+permute" | "experts" | "combine" | "layer"
  double measured_us = 0;
  double predicted_us = 0;
  double error_pct = 0;  // (predicted - measured) / measured * 100
  std::string source;    // ComputeModel::source of the phase ("profile", "roofline", ...)
  bool held_out = true;  // the layer's token count, skew or gate family is not in the profile's fit set
};

// Whether the profile's kernel tables were fitted at this layer's token count (a point of its
// gate, permute or expert table) and skew (one of kernels.fit_skews): an in-sample layer. A profile
// without tables fitted nothing: every layer is held out.
bool in_fit_set(const Profile& profile, std::int64_t tokens, double skew);

// The preset as the calibrator ran it: weight_bytes = `weight_bytes`, bf16 dispatch and combine.
ModelSpec spec_as_run(const ModelSpec& preset, double weight_bytes);

// gate+permute: ComputeModel::gate_ps(tokens) vs gate_us + permute_us; experts: experts_ps over
// the measured tokens_per_expert vs experts_us; combine: combine_ps(tokens * top_k) vs combine_us;
// layer: the sum of the three predictions vs total_us. A layer over a slice of the model's experts
// (fewer tokens_per_expert entries than spec.routed_experts: one GPU's share under expert
// parallelism) gives the experts and combine rows only, held out: its router covered the slice,
// not the model's experts. Throws Error when a measured time is <= 0.
std::vector<ValidateRow> predict_layer(const Profile& profile, const ModelSpec& spec, const fit::LayerMeasurement& m);

struct ErrorSummary {
  int rows = 0;
  double median_abs_pct = 0;
  double p90_abs_pct = 0;
  double max_abs_pct = 0;
};
// Over the rows of `phase` ("" = every row), of the held-out or in-sample layers (either when unset).
enum class RowSet { all, in_sample, held_out };
ErrorSummary summarize_errors(const std::vector<ValidateRow>& rows, const std::string& phase, RowSet set = RowSet::all);

std::string validate_table_text(const std::vector<ValidateRow>& rows);
std::string validate_csv(const std::vector<ValidateRow>& rows);  // header + one line per row

}  // namespace moesim::calib
