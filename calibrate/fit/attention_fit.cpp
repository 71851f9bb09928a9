// Core attention tables from measured attention kernels (see attention_fit.hpp).
#include "fit/attention_fit.hpp"

#include <fmt/format.h>

#include <set>

#include "fit/expert_fit.hpp"

namespace moesim::fit {

std::map<std::string, LogTable> fit_attention_tables(const Measurements& m, const std::string& model,
                                                     std::vector<std::string>& notes) {
  std::map<std::string, LogTable> tables;
  std::map<int, std::vector<std::pair<double, double>>> decode;  // by batch: (context, us)
  std::vector<std::pair<double, double>> prefill;                // (visible pairs, us)
  int drafts = 0;
  for (const auto& a : m.attention) {
    if (a.model != model) continue;
    if (a.phase == "prefill") {
      prefill.emplace_back(a.visible_pairs(), a.median_us);
    } else if (a.queries == 1) {
      decode[a.batch].emplace_back(a.context, a.median_us);
    } else {
      ++drafts;  // the tables hold one new token per sequence
    }
  }
  if (drafts > 0) notes.push_back(fmt::format("attention: {} decode rows with several queries per sequence left out", drafts));
  for (const auto& [batch, points] : decode) {
    std::set<double> contexts;
    for (const auto& pt : points) contexts.insert(pt.first);
    if (contexts.size() < 2 || contexts.count(0) > 0) {
      // LogTable x must be > 0, and one context says nothing of the slope.
      notes.push_back(fmt::format("attention: decode batch {} left out (needs 2 or more contexts > 0)", batch));
      continue;
    }
    const std::string name = fmt::format("attn_decode_b{}_us", batch);
    tables[name] = monotone_table(points, name.substr(0, name.size() - 3), "context", notes);
    notes.push_back(fmt::format("kernels.{}: {} contexts from {} rows (core decode attention of {} sequences)", name,
                                tables[name].x.size(), points.size(), batch));
  }
  if (!prefill.empty()) {
    tables["attn_prefill_us"] = monotone_table(prefill, "attn_prefill", "pairs", notes);
    notes.push_back(fmt::format("kernels.attn_prefill_us: {} points from {} rows (core prefill attention by visible "
                                "(query, key) pairs per head)",
                                tables["attn_prefill_us"].x.size(), prefill.size()));
  }
  if (tables.empty()) notes.push_back("attention: not measured (the simulator uses its roofline)");
  return tables;
}

}  // namespace moesim::fit
