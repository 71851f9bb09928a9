#pragma once
// Fits the core attention tables from measured attention kernels: decode curves by cached context,
// one per batch size, and prefill by visible (query, key) pairs. Assumption: a decode row's
// sequences share one context and run one new token each (rows with draft tokens are left out).
#include <map>
#include <string>
#include <vector>

#include "fit/measurements.hpp"
#include "gpu/profile.hpp"

namespace moesim::fit {

// Tables from `attention` rows of the model: "attn_decode_b<B>_us" by context (one per batch size
// measured at 2 or more contexts > 0) and "attn_prefill_us" by visible pairs; notes say what was
// left out. Empty (noted) when the model has no attention rows.
std::map<std::string, LogTable> fit_attention_tables(const Measurements& m, const std::string& model,
                                                     std::vector<std::string>& notes);

}  // namespace moesim::fit
