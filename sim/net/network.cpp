// Shared part of the network models: flow declaration, ECMP path choice, per-link accounting.
#include "net/network.hpp"

#include "core/error.hpp"
#include "net/analytic_network.hpp"
#include "net/flow_model.hpp"

namespace moesim {

namespace {
// Deterministic ECMP hash of (src, dst, salt): the same scenario always takes the same paths.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}
}  // namespace

Network::Network(EventQueue& queue, const Topology& topology, MessageCost cost)
    : queue_(queue), topology_(topology), cost_(std::move(cost)),
      link_bytes_(static_cast<std::size_t>(topology.link_count()), 0.0) {}

std::int64_t Network::declare(const std::vector<FlowDecl>& flows, std::uint64_t salt) {
  const std::int64_t first = base_ + static_cast<std::int64_t>(decls_.size());
  for (const FlowDecl& f : flows) {
    const auto& paths = topology_.paths(f.src_gpu, f.dst_gpu);
    if (paths.empty()) throw Error("network: flow between a GPU and itself, or no route");
    Declared d;
    d.path = static_cast<std::int32_t>(
        mix(salt * 0x9e3779b97f4a7c15ULL ^ (static_cast<std::uint64_t>(f.src_gpu) << 20) ^
            static_cast<std::uint64_t>(f.dst_gpu)) %
        paths.size());
    d.kind = topology_.nvlink_only(f.src_gpu, f.dst_gpu) ? 0 : 1;
    const double eff = cost_.efficiency ? cost_.efficiency(d.kind, f.bytes) : 1.0;
    d.eff_bytes = f.bytes / (eff > 0 ? eff : 1.0);
    const Path& p = paths[static_cast<std::size_t>(d.path)];
    d.latency_ps = ps_from_ns(topology_.path_latency_ns(p) + cost_.alpha_ns[d.kind]);
    decls_.push_back(f);
    info_.push_back(d);
  }
  on_declared(first, flows.size());
  return first;
}

void Network::clear_declared() {
  base_ += static_cast<std::int64_t>(decls_.size());
  decls_.clear();
  info_.clear();
  on_cleared();
}

const Path& Network::path_of(std::int64_t flow_id) const {
  const FlowDecl& f = flow(flow_id);
  const Declared& d = info_[index(flow_id)];
  return topology_.paths(f.src_gpu, f.dst_gpu)[static_cast<std::size_t>(d.path)];
}

void Network::account(std::int64_t flow_id) {
  const double bytes = flow(flow_id).bytes;
  for (int l : path_of(flow_id)) link_bytes_[static_cast<std::size_t>(l)] += bytes;
  ++completed_;
}

std::unique_ptr<Network> make_network(const std::string& mode, EventQueue& queue, const Topology& topology,
                                      MessageCost cost) {
  if (mode == "flow") return std::make_unique<FlowModel>(queue, topology, std::move(cost));
  if (mode == "analytic") return std::make_unique<AnalyticNetwork>(queue, topology, std::move(cost));
  throw InputError("unknown network model \"" + mode + "\" (expected flow or analytic)");
}

}  // namespace moesim
