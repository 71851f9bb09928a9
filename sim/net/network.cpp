// Shared part of the network models: flow declaration, ECMP path choice, per-link accounting.
#include "net/network.hpp"

#include <algorithm>
#include <bit>
#include <limits>

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
constexpr std::uint64_t kCallbackTag = ~std::uint64_t{0};
}  // namespace

Network::Network(EventQueue& queue, const Topology& topology, MessageCost cost)
    : queue_(queue),
      topology_(topology),
      cost_(std::move(cost)),
      link_bytes_(static_cast<std::size_t>(topology.link_count())),
      pairs_(static_cast<std::size_t>(topology.gpu_count()) * static_cast<std::size_t>(topology.gpu_count())),
      eff_cache_(static_cast<std::size_t>(kPathKindCount) * kEffCache) {}

double Network::efficiency(PathKind kind, Bytes bytes) {
  if (!cost_.efficiency) return 1.0;
  const double b = bytes.count();
  const auto bits = std::bit_cast<std::uint64_t>(b);
  EffEntry& e = eff_cache_[static_cast<std::size_t>(kind) * kEffCache + (mix(bits) & (kEffCache - 1))];
  if (e.bytes != b) e = EffEntry{b, cost_.efficiency(kind, bytes)};
  return e.eff;
}

void Network::learn_pair(int src_gpu, int dst_gpu, PairInfo& pair) {
  std::vector<Path> one;  // dmodk: the pair's single route
  if (topology_.routing() == RoutingKind::dmodk) {
    one.emplace_back();
    topology_.route(src_gpu, dst_gpu, one.back());
    if (one.back().empty()) one.clear();
  }
  const auto& paths = topology_.routing() == RoutingKind::dmodk ? one : topology_.paths(src_gpu, dst_gpu);
  if (paths.empty()) throw Error("network: flow between a GPU and itself, or no route");
  if (paths.size() > std::numeric_limits<std::uint16_t>::max())
    throw Error("network: too many routes between two GPUs");
  pair.first_route = static_cast<std::uint32_t>(route_refs_.size());
  pair.kind = topology_.path_kind(src_gpu, dst_gpu);
  for (const Path& q : paths) {
    if (q.size() > std::numeric_limits<std::uint16_t>::max() ||
        route_links_.size() + q.size() > std::numeric_limits<std::uint32_t>::max() ||
        route_refs_.size() >= std::numeric_limits<std::uint32_t>::max())
      throw Error("network: routes too long for the flow table");
    route_refs_.push_back(RouteRef{static_cast<std::uint32_t>(route_links_.size()),
                                   static_cast<std::uint32_t>(q.size()),
                                   ps_from_ns(topology_.path_latency_ns(q) + cost_.alpha_of(pair.kind))});
    route_links_.insert(route_links_.end(), q.begin(), q.end());
  }
  pair.routes = static_cast<std::uint16_t>(paths.size());
}

double Network::share_left(std::span<const std::int32_t> links) const {
  double taken = 0;
  if (!background_.empty())
    for (const std::int32_t l : links) taken = std::max(taken, background_[static_cast<std::size_t>(l)]);
  return 1 - std::clamp(taken, 0.0, 0.9);
}

std::int64_t Network::declare(const std::vector<FlowDecl>& flows, std::uint64_t salt,
                              std::span<const double> size_by_src) {
  const std::int64_t first = base_ + static_cast<std::int64_t>(info_.size());
  const auto gpus = static_cast<std::size_t>(topology_.gpu_count());
  for (const FlowDecl& f : flows) {
    if (static_cast<std::size_t>(f.src_gpu) >= gpus || static_cast<std::size_t>(f.dst_gpu) >= gpus)
      throw Error("network: flow between GPUs that do not exist");
    PairInfo& pair = pairs_[static_cast<std::size_t>(f.src_gpu) * gpus + static_cast<std::size_t>(f.dst_gpu)];
    if (pair.routes == 0) learn_pair(f.src_gpu, f.dst_gpu, pair);
    const std::size_t choice = pair.routes == 1
                                   ? 0
                                   : mix(salt * 0x9e3779b97f4a7c15ULL ^ (static_cast<std::uint64_t>(f.src_gpu) << 20) ^
                                         static_cast<std::uint64_t>(f.dst_gpu)) %
                                         pair.routes;
    const RouteRef& route = route_refs_[pair.first_route + choice];
    Declared d;
    d.route = pair.first_route + static_cast<std::uint32_t>(choice);
    d.kind = pair.kind;
    const double eff =
        efficiency(d.kind, size_by_src.empty() ? f.bytes : Bytes(size_by_src[static_cast<std::size_t>(f.src_gpu)]));
    d.eff_bytes = f.bytes.count() / (eff > 0 ? eff : 1.0);
    if (f.messages > 0) {  // per-message port time, as bytes at the first link's rate
      const double ns = cost_.message_ns[static_cast<std::size_t>(d.kind)];
      d.eff_bytes += static_cast<double>(f.messages) * ns * 1e3 *
                     topology_.link(route_links_[route.offset]).bandwidth.bytes_per_ps();
    }
    if (!background_.empty()) d.eff_bytes /= share_left({route_links_.data() + route.offset, route.len});
    d.bytes = f.bytes.count();
    info_.push_back(d);
  }
  bottleneck_.resize(info_.size(), -1);
  on_declared(Declaration{first, flows, salt, size_by_src});
  return first;
}

void Network::clear_declared() {
  base_ += static_cast<std::int64_t>(info_.size());
  info_.clear();
  bottleneck_.clear();
  on_cleared();
}

void Network::account(std::span<const std::int32_t> links, Bytes bytes) {
  for (std::int32_t l : links) link_bytes_[static_cast<std::size_t>(l)] += bytes;
  ++completed_;
}

void Network::start(std::int64_t flow_id, Delivered on_delivered) {
  callbacks_.emplace_back(flow_id, std::move(on_delivered));
  start(flow_id, kCallbackTag);
}

void Network::deliver(std::int64_t flow_id, std::uint64_t tag, TimePs at_ps) {
  if (tag != kCallbackTag) {
    if (sink_ == nullptr) throw Error("network: a flow was delivered but nobody listens (no sink set)");
    sink_->delivered(flow_id, tag, at_ps);
    return;
  }
  // Few flows use callbacks (weight moves, tests): a linear search from the newest is enough.
  const auto it =
      std::find_if(callbacks_.rbegin(), callbacks_.rend(), [&](const auto& c) { return c.first == flow_id; });
  if (it == callbacks_.rend()) throw Error("network: delivery of a flow without a callback");
  Delivered cb = std::move(it->second);
  callbacks_.erase(std::next(it).base());
  queue_.schedule(at_ps, [cb = std::move(cb), at_ps] { cb(at_ps); });
}

std::unique_ptr<Network> make_network(NetworkModelKind model, EventQueue& queue, const Topology& topology,
                                      MessageCost cost, double resolve_tolerance) {
  if (model == NetworkModelKind::flow)
    return std::make_unique<FlowModel>(queue, topology, std::move(cost), resolve_tolerance);
  return std::make_unique<AnalyticNetwork>(queue, topology, std::move(cost));
}

}  // namespace moesim
