#pragma once
// Group-limited routing (DeepSeek-V3's node-limited routing): experts form equal groups of
// consecutive ids and a token's top_k experts lie in at most groups_per_token groups. Checks the
// setting and maps recorded routing onto the limit, assuming a token's picks are listed best first.
#include <string_view>
#include <vector>

#include "spec/gate_spec.hpp"

namespace moesim {

// Throws InputError naming `where` (the scenario file) and the key when spec.groups > 0 and the
// limit does not fit: groups not dividing `experts`, groups_per_token outside [1, groups], or
// groups_per_token * experts / groups < top_k. Does nothing when groups == 0.
void check_group_limit(const GateSpec& spec, int experts, int top_k, std::string_view where);

// Remaps one token's picks (top_k distinct expert ids, best first) onto its groups_per_token
// groups holding most of its picks (ties: the group of its earlier pick); each pick outside them
// becomes the lowest-id expert of the kept groups the token has not taken yet. Returns the number
// of picks changed (0 when the token already respects the limit). `scratch` is reused.
int limit_token_groups(int* picks, int top_k, int group_size, int groups_per_token, std::vector<int>& scratch);

}  // namespace moesim
