// Analytic (per-link processor-sharing) network model (see analytic_network.hpp).
#include "net/analytic_network.hpp"

#include <algorithm>
#include <cmath>

namespace moesim {

AnalyticNetwork::AnalyticNetwork(EventQueue& queue, const Topology& topology, MessageCost cost)
    : Network(queue, topology, std::move(cost)) {}

void AnalyticNetwork::on_declared(std::int64_t first_id, std::size_t count) {
  duration_ps_.resize(index(first_id) + count, 0);

  // Bucket the flows' link uses by link (counting sort), then order each link's flows by size:
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
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t id = first_id + static_cast<std::int64_t>(i);
    const double bytes = info(id).eff_bytes;
    for (int l : path_of(id)) uses_[cursor_[static_cast<std::size_t>(l)]++] = Use{bytes, id};
  }
  for (std::size_t l = 0; l < links; ++l) {
    const std::size_t i = link_start_[l], j = link_start_[l + 1];
    if (i == j) continue;
    // Equal sizes finish together whatever their order, so sorting by size alone is enough.
    std::sort(uses_.begin() + static_cast<std::ptrdiff_t>(i), uses_.begin() + static_cast<std::ptrdiff_t>(j),
              [](const Use& a, const Use& b) { return a.bytes < b.bytes; });
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
