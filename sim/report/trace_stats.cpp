// Trace statistics (see trace_stats.hpp): one streaming pass over the steps.
#include "report/trace_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <unordered_map>

namespace moesim {

namespace {

constexpr std::uint64_t kFlatPairBudgetBytes = std::uint64_t{256} << 20;

// Co-selection counts of expert pairs a < b within one layer.
class PairCounter {
 public:
  PairCounter(int experts, bool flat) : e_(static_cast<std::uint64_t>(experts)), flat_(flat) {
    if (flat_) counts_.assign(e_ * (e_ - 1) / 2, 0);
  }
  void add(std::uint64_t a, std::uint64_t b) {  // a < b
    if (flat_)
      ++counts_[a * (2 * e_ - a - 1) / 2 + (b - a - 1)];  // row a of the upper triangle starts there
    else
      ++map_[a * e_ + b];
  }
  std::vector<ExpertPair> top(int n, std::uint64_t tokens) const {
    std::vector<ExpertPair> all;
    if (flat_) {
      std::size_t i = 0;
      for (std::uint64_t a = 0; a < e_; ++a)
        for (std::uint64_t b = a + 1; b < e_; ++b, ++i)
          if (counts_[i] > 0) all.push_back(pair(a, b, counts_[i]));
    } else {
      for (const auto& [key, c] : map_) all.push_back(pair(key / e_, key % e_, c));
    }
    const auto by_count = [](const ExpertPair& x, const ExpertPair& y) {
      return x.count != y.count ? x.count > y.count : (x.a != y.a ? x.a < y.a : x.b < y.b);
    };
    const auto keep = std::min<std::size_t>(all.size(), static_cast<std::size_t>(std::max(n, 0)));
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(), by_count);
    all.resize(keep);
    for (auto& p : all) p.share = tokens > 0 ? static_cast<double>(p.count) / static_cast<double>(tokens) : 0.0;
    return all;
  }

 private:
  static ExpertPair pair(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    return {static_cast<int>(a), static_cast<int>(b), c, 0.0};
  }
  std::uint64_t e_;
  bool flat_;
  std::vector<std::uint64_t> counts_;
  std::unordered_map<std::uint64_t, std::uint64_t> map_;
};

// Total-variation distance between two load vectors normalised to distributions.
double tv_distance(const std::vector<std::uint64_t>& p, std::uint64_t p_total, const std::vector<std::uint64_t>& q,
                   std::uint64_t q_total) {
  double sum = 0;
  for (std::size_t e = 0; e < p.size(); ++e)
    sum += std::fabs(static_cast<double>(p[e]) / static_cast<double>(p_total) -
                     static_cast<double>(q[e]) / static_cast<double>(q_total));
  return 0.5 * sum;
}

void finish_layer(LayerTraceStats& s, const std::vector<std::uint64_t>& load, int top_experts) {
  const double n = static_cast<double>(load.size());
  s.load_mean = static_cast<double>(s.assignments) / n;
  double var = 0;
  for (std::size_t e = 0; e < load.size(); ++e) {
    s.load_max = std::max(s.load_max, load[e]);
    if (load[e] == 0) ++s.experts_unused;
    const double d = static_cast<double>(load[e]) - s.load_mean;
    var += d * d;
  }
  if (s.assignments > 0) {
    s.load_max_over_mean = static_cast<double>(s.load_max) / s.load_mean;
    s.load_cv = std::sqrt(var / n) / s.load_mean;
  }
  std::vector<ExpertShare> all;
  for (std::size_t e = 0; e < load.size(); ++e)
    if (load[e] > 0)
      all.push_back({static_cast<int>(e), load[e], static_cast<double>(load[e]) / static_cast<double>(s.assignments)});
  const auto keep = std::min<std::size_t>(all.size(), static_cast<std::size_t>(std::max(top_experts, 0)));
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                    [](const ExpertShare& x, const ExpertShare& y) {
                      return x.count != y.count ? x.count > y.count : x.expert < y.expert;
                    });
  all.resize(keep);
  s.top_experts = std::move(all);
  if (s.drift_pairs > 0) s.drift_tv_mean /= static_cast<double>(s.drift_pairs);  // was a running sum
}

}  // namespace

TraceStats compute_trace_stats(TraceReader& reader, int top_pairs, int top_experts) {
  TraceStats out;
  out.path = reader.path();
  out.header = reader.header();
  const TraceHeader& h = out.header;
  const auto L = static_cast<std::size_t>(h.layers), R = static_cast<std::size_t>(h.ranks),
             E = static_cast<std::size_t>(h.experts), K = static_cast<std::size_t>(h.top_k);
  out.pairs_available = !h.counts_only();
  out.layers.resize(L);
  for (std::size_t l = 0; l < L; ++l) out.layers[l].layer = static_cast<int>(l);

  std::vector<std::vector<std::uint64_t>> total(L, std::vector<std::uint64_t>(E, 0));
  std::vector<std::vector<std::uint64_t>> prev(L, std::vector<std::uint64_t>(E, 0)), cur = prev;
  std::vector<std::uint64_t> prev_sum(L, 0);
  std::vector<PairCounter> pairs;
  if (out.pairs_available && K >= 2) {
    const bool flat = E <= 1024 && L * (E * (E - 1) / 2) * sizeof(std::uint64_t) <= kFlatPairBudgetBytes;
    pairs.assign(L, PairCounter(h.experts, flat));
  }

  reader.rewind();
  TraceStep st;
  while (reader.next(st)) {
    ++out.steps;
    for (std::size_t l = 0; l < L; ++l) {
      auto& c = cur[l];
      std::fill(c.begin(), c.end(), 0);
      LayerTraceStats& s = out.layers[l];
      for (std::size_t r = 0; r < R; ++r) {
        const std::size_t b = l * R + r;
        if (h.counts_only()) {
          for (std::size_t e = 0; e < E; ++e) c[e] += st.counts[b * E + e];
          continue;
        }
        const std::int32_t* ids = st.experts.data() + st.offsets[b];
        s.tokens += st.tokens[b];
        for (std::size_t t = 0; t < st.tokens[b]; ++t, ids += K) {
          for (std::size_t i = 0; i < K; ++i) {
            ++c[static_cast<std::size_t>(ids[i])];
            if (pairs.empty()) continue;
            for (std::size_t j = i + 1; j < K; ++j) {
              const auto a = static_cast<std::uint64_t>(ids[i]), bb = static_cast<std::uint64_t>(ids[j]);
              pairs[l].add(std::min(a, bb), std::max(a, bb));
            }
          }
        }
      }
      std::uint64_t sum = 0;
      for (std::size_t e = 0; e < E; ++e) {
        sum += c[e];
        total[l][e] += c[e];
      }
      s.assignments += sum;
      if (sum > 0 && prev_sum[l] > 0) {
        const double tv = tv_distance(prev[l], prev_sum[l], c, sum);
        s.drift_tv_mean += tv;  // running sum until finish_layer
        s.drift_tv_max = std::max(s.drift_tv_max, tv);
        ++s.drift_pairs;
      }
      // Compare with the last step that had load, so an empty step does not break the chain.
      if (sum > 0) {
        prev[l].swap(c);
        prev_sum[l] = sum;
      }
    }
  }

  double worst = -1;
  for (std::size_t l = 0; l < L; ++l) {
    LayerTraceStats& s = out.layers[l];
    if (h.counts_only()) s.tokens = s.assignments / K;
    finish_layer(s, total[l], top_experts);
    if (!pairs.empty()) s.top_pairs = pairs[l].top(top_pairs, s.tokens);
    out.tokens += s.tokens;
    out.assignments += s.assignments;
    if (s.load_max_over_mean > worst) {
      worst = s.load_max_over_mean;
      out.worst_layer = s.layer;
    }
  }
  return out;
}

}  // namespace moesim
