// EP group layout (see ep_layout.hpp): domains numbered by first appearance among the group's GPUs.
#include "comm/ep_layout.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"

namespace moesim {

EpLayout::EpLayout(const Topology& topology, int gpus, std::vector<char> down) : down_(std::move(down)) {
  if (gpus < 1 || gpus > topology.gpu_count())
    throw Error("ep layout: the group must have between 1 and the topology's GPU count of GPUs");
  if (!down_.empty() && static_cast<int>(down_.size()) != gpus) throw Error("ep layout: one down flag per GPU");
  std::map<int, int> index;  // topology domain -> ours
  domain_.resize(static_cast<std::size_t>(gpus));
  local_rank_.resize(static_cast<std::size_t>(gpus));
  for (int g = 0; g < gpus; ++g) {
    const int topo = topology.gpu_domain(g);
    int d = 0;
    if (topo < 0) {  // no domain: a domain of its own
      d = static_cast<int>(members_.size());
      members_.emplace_back();
    } else {
      const auto [it, fresh] = index.emplace(topo, static_cast<int>(members_.size()));
      if (fresh) members_.emplace_back();
      d = it->second;
    }
    auto& m = members_[static_cast<std::size_t>(d)];
    domain_[static_cast<std::size_t>(g)] = d;
    local_rank_[static_cast<std::size_t>(g)] = static_cast<int>(m.size());
    m.push_back(g);
    max_members_ = std::max(max_members_, static_cast<int>(m.size()));
  }
}

int EpLayout::proxy(int src, int domain) const {
  const auto& m = members(domain);
  const auto n = static_cast<int>(m.size());
  for (int i = 0; i < n; ++i) {
    const int g = m[static_cast<std::size_t>((local_rank(src) + i) % n)];
    if (!down(g)) return g;
  }
  return -1;
}

}  // namespace moesim
