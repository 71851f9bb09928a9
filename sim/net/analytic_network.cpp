// Analytic (per-link processor-sharing) network model (see analytic_network.hpp).
#include "net/analytic_network.hpp"

#include <algorithm>
#include <cmath>

namespace moesim {

AnalyticNetwork::AnalyticNetwork(EventQueue& queue, const Topology& topology, MessageCost cost)
    : Network(queue, topology, std::move(cost)) {}

void AnalyticNetwork::on_declared(std::int64_t first_id, std::size_t count) {
  duration_ps_.resize(index(first_id) + count, 0);

  uses_.clear();
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t id = first_id + static_cast<std::int64_t>(i);
    for (int l : path_of(id)) uses_.push_back(Use{l, info(id).eff_bytes, id});
  }
  // Group by link, smallest flows first: a flow's finish on a link under processor sharing is
  // (bytes of all smaller flows + its bytes x flows not smaller) / bandwidth.
  std::sort(uses_.begin(), uses_.end(), [](const Use& a, const Use& b) {
    return a.link != b.link ? a.link < b.link : (a.bytes != b.bytes ? a.bytes < b.bytes : a.flow < b.flow);
  });
  std::size_t i = 0;
  while (i < uses_.size()) {
    std::size_t j = i;
    while (j < uses_.size() && uses_[j].link == uses_[i].link) ++j;
    const double bw = topology_.link(uses_[i].link).bandwidth_GBps;
    double smaller = 0;
    for (std::size_t k = i; k < j; ++k) {
      const double finish_bytes = smaller + uses_[k].bytes * static_cast<double>(j - k);
      const TimePs t = transfer_ps(finish_bytes, bw);
      auto& d = duration_ps_[index(uses_[k].flow)];
      d = std::max(d, t);
      smaller += uses_[k].bytes;
    }
    i = j;
  }
}

void AnalyticNetwork::start(std::int64_t flow_id, Delivered on_delivered) {
  account(flow_id);
  const TimePs at = queue_.now_ps() + duration_ps_[index(flow_id)] +
                    info(flow_id).latency_ps;
  queue_.schedule(at, [cb = std::move(on_delivered), at] { cb(at); });
}

}  // namespace moesim
