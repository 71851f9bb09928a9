#pragma once
// Measured core attention beside the simulator's prediction (`moesim-fit --check-attention`): the
// profile's attention tables (or roofline) for each recorded `attention` row. Assumption: a decode
// row's sequences all hold `context` cached tokens, as the calibrator runs them.
#include <string>
#include <vector>

#include "cli/validate_table.hpp"
#include "fit/measurements.hpp"
#include "gpu/profile.hpp"
#include "spec/model_spec.hpp"

namespace moesim::calib {

// Whether the row sits on a point the profile's tables were fitted at: a decode row at a batch
// with its own curve and one of that curve's contexts, a prefill row at a point of the prefill
// table's pairs. Everything else is held out (interpolated or extrapolated).
bool attention_in_fit_set(const Profile& profile, const fit::AttentionMeasurement& row);

// One ValidateRow per attention row of the profile's model: phase "attention decode" or "attention
// prefill", tokens = batch x queries, gate = "b<batch> q<queries> ctx<context>", measured and
// predicted core time (ComputeModel::core_attention_ps), the source the compute model names.
// Throws Error when a measured time is not positive.
std::vector<ValidateRow> predict_attention(const Profile& profile, const ModelSpec& spec,
                                           const std::vector<fit::AttentionMeasurement>& rows);

// The rows and the |error| summaries of each phase, in-sample and held out.
std::string attention_table_text(const std::vector<ValidateRow>& rows);

}  // namespace moesim::calib
