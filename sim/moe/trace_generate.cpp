// Trace generation from a gate (see trace_generate.hpp).
#include "moe/trace_generate.hpp"

namespace moesim {

std::uint64_t generate_trace(Gate& gate, const TraceGenSpec& spec, const std::string& out_path) {
  TraceHeader h;
  h.layers = spec.layers;
  h.experts = gate.experts();
  h.top_k = gate.top_k();
  h.ranks = spec.ranks;
  if (h.experts > 65535) h.flags |= TraceHeader::kFlagWideIds;
  TraceWriter writer(out_path, h);
  TraceStep step;
  std::vector<int> ids;
  const auto blocks = static_cast<std::size_t>(spec.layers) * static_cast<std::size_t>(spec.ranks);
  std::uint64_t assignments = 0;
  for (int s = 0; s < spec.steps; ++s) {
    step.step = static_cast<std::uint32_t>(s);
    step.tokens.assign(blocks, static_cast<std::uint32_t>(spec.tokens_per_rank));
    step.index(h.top_k);
    step.experts.clear();
    for (int l = 0; l < spec.layers; ++l)
      for (int r = 0; r < spec.ranks; ++r) {
        gate.assign(s, l, r, spec.tokens_per_rank, ids);
        step.experts.insert(step.experts.end(), ids.begin(), ids.end());
      }
    writer.write(step);
    assignments += step.experts.size();
  }
  writer.close();
  return assignments;
}

}  // namespace moesim
