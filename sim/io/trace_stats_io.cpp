// Trace statistics formatting: text through fmt, JSON through nlohmann::ordered_json.
#include "io/trace_stats_io.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace moesim::io {

namespace {

std::string form(const TraceHeader& h) {
  if (h.counts_only()) return "counts-only";
  return h.has_weights() ? "token-level with gate weights" : "token-level";
}

}  // namespace

std::string trace_stats_text(const TraceStats& s) {
  const TraceHeader& h = s.header;
  std::string out = fmt::format("trace {}: {}, v{}\n", s.path, form(h), h.version);
  out += fmt::format("  {} steps, {} layers x {} experts, top_k {}, {} ranks\n", s.steps, h.layers, h.experts, h.top_k,
                     h.ranks);
  out += fmt::format("  {} tokens (summed over layers), {} assignments{}\n", s.tokens, s.assignments,
                     h.counts_only() ? " (tokens = assignments / top_k; no per-token ids, so no expert pairs)" : "");
  if (s.worst_layer >= 0)
    out += fmt::format("  most imbalanced layer: {} (expert load max/mean {:.3f})\n", s.worst_layer,
                       s.layers[static_cast<std::size_t>(s.worst_layer)].load_max_over_mean);
  out += fmt::format("{:>6} {:>12} {:>14} {:>10} {:>12} {:>9} {:>7} {:>7} {:>10} {:>10}\n", "layer", "tokens",
                     "assignments", "load_max", "load_mean", "max/mean", "cv", "unused", "drift_tv", "drift_max");
  for (const auto& l : s.layers)
    out += fmt::format("{:>6} {:>12} {:>14} {:>10} {:>12.2f} {:>9.3f} {:>7.3f} {:>7} {:>10.4f} {:>10.4f}\n", l.layer,
                       l.tokens, l.assignments, l.load_max, l.load_mean, l.load_max_over_mean, l.load_cv,
                       l.experts_unused, l.drift_tv_mean, l.drift_tv_max);
  for (const auto& l : s.layers) {
    std::string experts, pairs;
    for (const auto& e : l.top_experts) experts += fmt::format(" {} ({:.1f}%)", e.expert, 100.0 * e.share);
    for (const auto& p : l.top_pairs) pairs += fmt::format(" {}+{} ({:.1f}%)", p.a, p.b, 100.0 * p.share);
    out +=
        fmt::format("layer {} top experts (share of assignments):{}\n", l.layer, experts.empty() ? " none" : experts);
    if (s.pairs_available && h.top_k >= 2)
      out += fmt::format("layer {} top pairs (share of tokens):{}\n", l.layer, pairs.empty() ? " none" : pairs);
  }
  return out;
}

std::string trace_stats_json(const TraceStats& s) {
  using nlohmann::ordered_json;
  const TraceHeader& h = s.header;
  ordered_json j;
  j["path"] = s.path;
  j["version"] = h.version;
  j["form"] = h.counts_only() ? "counts_only" : "token_level";
  j["weights"] = h.has_weights();
  j["steps"] = s.steps;
  j["layers"] = h.layers;
  j["experts"] = h.experts;
  j["top_k"] = h.top_k;
  j["ranks"] = h.ranks;
  j["tokens"] = s.tokens;
  j["assignments"] = s.assignments;
  j["pairs_available"] = s.pairs_available;
  j["worst_layer"] = s.worst_layer;
  ordered_json layers = ordered_json::array();
  for (const auto& l : s.layers) {
    ordered_json e;
    e["layer"] = l.layer;
    e["tokens"] = l.tokens;
    e["assignments"] = l.assignments;
    e["load_max"] = l.load_max;
    e["load_mean"] = l.load_mean;
    e["load_max_over_mean"] = l.load_max_over_mean;
    e["load_cv"] = l.load_cv;
    e["experts_unused"] = l.experts_unused;
    e["drift_tv_mean"] = l.drift_tv_mean;
    e["drift_tv_max"] = l.drift_tv_max;
    e["drift_pairs"] = l.drift_pairs;
    ordered_json top = ordered_json::array();
    for (const auto& x : l.top_experts) top.push_back({{"expert", x.expert}, {"count", x.count}, {"share", x.share}});
    e["top_experts"] = std::move(top);
    ordered_json pairs = ordered_json::array();
    for (const auto& p : l.top_pairs)
      pairs.push_back({{"experts", {p.a, p.b}}, {"count", p.count}, {"share_of_tokens", p.share}});
    e["top_pairs"] = std::move(pairs);
    layers.push_back(std::move(e));
  }
  j["per_layer"] = std::move(layers);
  return j.dump(2) + "\n";
}

}  // namespace moesim::io
