// Analytic (per-link processor-sharing) network model (see analytic_network.hpp).
#include "net/analytic_network.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <cmath>

namespace moesim {

AnalyticNetwork::AnalyticNetwork(EventQueue& queue, const Topology& topology, MessageCost cost)
    : Network(queue, topology, std::move(cost)) {}

// LSD radix sort of the collective's flows by effective size: sizes are positive doubles, which
// order like their bit patterns; 8 bits per pass (histograms counted in one pass), and a pass whose
// digit never varies is skipped.
const std::vector<AnalyticNetwork::Key>& AnalyticNetwork::sorted_by_size(std::int64_t first_id, std::size_t count) {
  keys_.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const double b = info(first_id + static_cast<std::int64_t>(i)).eff_bytes;
    std::uint64_t bits = 0;
    std::memcpy(&bits, &b, sizeof bits);
    keys_[i] = Key{bits, static_cast<std::uint32_t>(i)};
  }
  spare_.resize(count);
  // All eight digit histograms in one pass over the keys.
  std::array<std::array<std::size_t, 257>, 8> start{};
  for (const Key& k : keys_)
    for (int d = 0; d < 8; ++d) ++start[static_cast<std::size_t>(d)][((k.bits >> (8 * d)) & 0xff) + 1];
  for (int d = 0; d < 8; ++d) {
    auto& s = start[static_cast<std::size_t>(d)];
    if (std::find(s.begin() + 1, s.end(), count) != s.end()) continue;  // one value: order unchanged
    for (std::size_t v = 0; v < 256; ++v) s[v + 1] += s[v];
    for (const Key& k : keys_) spare_[s[(k.bits >> (8 * d)) & 0xff]++] = k;
    keys_.swap(spare_);
  }
  return keys_;
}

void AnalyticNetwork::on_declared(std::int64_t first_id, std::size_t count, std::uint64_t /*salt*/) {
  duration_ps_.resize(index(first_id) + count, 0);

  // Bucket the flows' link uses by link (counting sort), each link's flows in increasing size:
  // a flow's finish on a link under processor sharing is
  // (bytes of all smaller flows + its bytes x flows not smaller) / bandwidth.
  const auto links = static_cast<std::size_t>(topology_.link_count());
  link_start_.assign(links + 1, 0);
  // Every declared flow will run, so its bytes go on its links now (one pass, in order).
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t id = first_id + static_cast<std::int64_t>(i);
    const double bytes = flow(id).bytes;
    for (int l : path_of(id)) {
      ++link_start_[static_cast<std::size_t>(l) + 1];
      link_bytes_[static_cast<std::size_t>(l)] += bytes;
    }
  }
  for (std::size_t l = 0; l < links; ++l) link_start_[l + 1] += link_start_[l];
  uses_.resize(link_start_[links]);
  cursor_.assign(link_start_.begin(), link_start_.end() - 1);
  // Filling the buckets in increasing size leaves each link's flows sorted by size.
  for (const Key& k : sorted_by_size(first_id, count)) {
    const std::int64_t id = first_id + static_cast<std::int64_t>(k.index);
    const double bytes = info(id).eff_bytes;
    for (int l : path_of(id)) uses_[cursor_[static_cast<std::size_t>(l)]++] = Use{bytes, id};
  }
  for (std::size_t l = 0; l < links; ++l) {
    const std::size_t i = link_start_[l], j = link_start_[l + 1];
    if (i == j) continue;
    const double bw = topology_.link(static_cast<int>(l)).bandwidth_GBps;
    double smaller = 0;
    for (std::size_t k = i; k < j; ++k) {
      const double finish_bytes = smaller + uses_[k].bytes * static_cast<double>(j - k);
      const TimePs t = transfer_ps(finish_bytes, bw);
      auto& d = duration_ps_[index(uses_[k].flow)];
      d = std::max(d, t);
      smaller += uses_[k].bytes;
    }
  }
}

void AnalyticNetwork::start(std::int64_t flow_id, std::uint64_t tag) {
  ++completed_;  // its bytes were put on its links when it was declared
  deliver(flow_id, tag, queue_.now_ps() + duration_ps_[index(flow_id)] + info(flow_id).latency_ps);
}

}  // namespace moesim
