#pragma once
// Network models behind one interface. The simulation declares each collective phase (all flows
// of one layer's dispatch or combine) once, then starts its flows as senders become ready; the
// model calls back at each flow's delivery. Two models: a max-min fluid FlowModel and an
// analytic model that times flows from per-link loads (fast, no re-solving).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/event_queue.hpp"
#include "core/units.hpp"
#include "net/link_activity.hpp"
#include "net/topology.hpp"
#include "spec/settings.hpp"

namespace moesim {

// Receives flow deliveries. `at_ps` is when the flow's last byte arrives; the call may come
// earlier (the analytic model knows it when the flow starts), so the receiver must not act on it
// before `at_ps`. `tag` is what the flow was started with.
class DeliverySink {
 public:
  virtual void delivered(std::int64_t flow_id, std::uint64_t tag, TimePs at_ps) = 0;

 protected:
  ~DeliverySink() = default;
};

// Per-message costs on top of link bandwidth, by path kind.
struct MessageCost {
  double alpha_ns[kPathKindCount] = {0, 0};  // fixed software/protocol latency per message
  // Occupancy of the sender's first link per message a flow carries (FlowDecl::messages), in ns:
  // small-message costs charged where they arise, on the port, not as a per-flow efficiency.
  double message_ns[kPathKindCount] = {0, 0};
  // Achievable fraction of link bandwidth for a message of `bytes` on a path of `kind`;
  // empty = 1.
  std::function<double(PathKind kind, Bytes bytes)> efficiency;
  double alpha_of(PathKind kind) const { return alpha_ns[static_cast<std::size_t>(kind)]; }
};

// What a link did besides carrying bytes: how long it had a flow on it, and its busiest window.
struct LinkActivity {
  TimePs busy_ps = 0;         // time with at least one flow on the link
  double peak_occupancy = 0;  // most capacity in use over one window, as a fraction of the link's
};

struct FlowDecl {
  int src_gpu = 0;
  int dst_gpu = 0;
  Bytes bytes;
  std::int64_t messages = 0;  // messages it is made of (MessageCost::message_ns); 0: not counted
};

class Network {
 public:
  using Delivered = std::function<void(TimePs delivered_ps)>;

  Network(EventQueue& queue, const Topology& topology, MessageCost cost);
  virtual ~Network() = default;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Registers a collective; returns the id of its first flow (flows get consecutive ids).
  // `salt` varies the ECMP hash between collectives. `size_by_src` (empty, or one entry per GPU):
  // the message size whose efficiency a flow from that GPU gets (an all-to-all's per-rank size,
  // as nccl-tests measures it); empty: each flow's own size.
  std::int64_t declare(const std::vector<FlowDecl>& flows, std::uint64_t salt,
                       std::span<const double> size_by_src = {});
  // Starts a declared flow now; the sink hears of its delivery (see DeliverySink).
  virtual void start(std::int64_t flow_id, std::uint64_t tag) = 0;
  void set_sink(DeliverySink* sink) { sink_ = sink; }
  // Convenience for rare flows (and tests): `on_delivered` runs at the delivery time.
  void start(std::int64_t flow_id, Delivered on_delivered);
  // Per link, the fraction of its bandwidth taken by traffic this network does not carry (another
  // model's, e.g. a memoised all-to-all); empty: none. A flow declared afterwards moves as if its
  // route had only what its most-loaded link leaves (at most 90% is taken), on top of its share
  // among the flows carried here.
  void set_background_load(std::vector<double> fraction) { background_ = std::move(fraction); }
  // The share of its route a declared flow was left by the background load (1: none).
  double background_share(std::int64_t flow_id) const { return share_left(path_of(flow_id)); }
  // Forgets declared flows (between steps, to keep memory flat); no flow may be in flight.
  void clear_declared();

  // The links of the route the flow takes (valid while the flow is declared, and after).
  std::span<const std::int32_t> path_of(std::int64_t flow_id) const {
    const RouteRef& r = route_refs_[info_[index(flow_id)].route];
    return {route_links_.data() + r.offset, r.len};
  }
  Bytes flow_bytes(std::int64_t flow_id) const { return Bytes(info_[index(flow_id)].bytes); }
  // Bytes carried by each link since construction.
  const std::vector<Bytes>& link_bytes() const { return link_bytes_; }
  // Whether flows started from now on count in link_activity() (switched between steps, with no
  // flow in flight): the bookkeeping costs a little per flow and link, so it is sampled.
  void record_link_activity(bool on) { record_activity_ = on; }
  // Busy time and peak occupancy of each link over the recorded flows (no flow may be in flight).
  virtual std::vector<LinkActivity> link_activity() const {
    return std::vector<LinkActivity>(static_cast<std::size_t>(topology_.link_count()));
  }
  // The link that bounded a delivered flow's rate (-1: unknown); valid while it is declared.
  std::int32_t bottleneck_of(std::int64_t flow_id) const { return bottleneck_[index(flow_id)]; }
  std::uint64_t flows_completed() const { return completed_; }
  std::size_t flows_declared() const { return info_.size(); }  // since the last clear_declared()
  virtual std::uint64_t rate_solves() const { return 0; }      // max-min solves so far
  const Topology& topology() const { return topology_; }

 protected:
  struct Declared {
    std::uint32_t route = 0;  // the path taken, in route_refs_
    PathKind kind = PathKind::nvlink;
    double eff_bytes = 0;  // bytes / efficiency
    double bytes = 0;      // as declared
  };
  // A collective was declared: its flows, as given to declare(), from id `first_id` on.
  struct Declaration {
    std::int64_t first_id;
    const std::vector<FlowDecl>& flows;
    std::uint64_t salt;
    std::span<const double> size_by_src;
  };
  virtual void on_declared(const Declaration& /*d*/) {}
  virtual void on_cleared() {}
  // Position of a flow among the currently declared ones (0-based, consecutive).
  std::size_t index(std::int64_t flow_id) const { return static_cast<std::size_t>(flow_id - base_); }
  Declared& info(std::int64_t flow_id) { return info_[index(flow_id)]; }
  // Latency of a declared flow: its route's links plus the per-message alpha.
  TimePs latency_ps(const Declared& d) const { return route_refs_[d.route].latency_ps; }
  // Adds a completed flow's bytes to its links and counts the completion.
  void account(std::span<const std::int32_t> links, Bytes bytes);
  // Hands a delivery to the sink (or to the flow's callback); at_ps >= now.
  void deliver(std::int64_t flow_id, std::uint64_t tag, TimePs at_ps);
  void set_bottleneck(std::int64_t flow_id, std::int32_t link) { bottleneck_[index(flow_id)] = link; }

  EventQueue& queue_;
  const Topology& topology_;
  MessageCost cost_;
  std::vector<Bytes> link_bytes_;
  std::uint64_t completed_ = 0;
  bool record_activity_ = true;

 private:
  std::vector<Declared> info_;            // per declared flow (the declarations themselves are not kept)
  std::vector<double> background_;        // see set_background_load
  double share_left(std::span<const std::int32_t> links) const;  // 1 - the busiest link's background
  std::vector<std::int32_t> bottleneck_;  // per declared flow: see bottleneck_of()
  std::int64_t base_ = 0;                 // id of info_[0]
  DeliverySink* sink_ = nullptr;
  // The routes of the GPU pairs used so far, flattened: a flow's start reads its links from one
  // dense array instead of through the topology's vector of vectors (two dependent cache misses).
  struct RouteRef {
    std::uint32_t offset;
    std::uint32_t len;
    TimePs latency_ps;  // its links plus the alpha of the pair's path kind
  };
  std::vector<std::int32_t> route_links_;
  std::vector<RouteRef> route_refs_;
  // What a declaration needs of a GPU pair, learnt on its first flow: one read per flow.
  struct PairInfo {
    std::uint32_t first_route = 0;  // in route_refs_
    std::uint16_t routes = 0;       // 0: not learnt yet
    PathKind kind = PathKind::nvlink;
  };
  std::vector<PairInfo> pairs_;                               // [src * G + dst]
  void learn_pair(int src_gpu, int dst_gpu, PairInfo& pair);  // fills it in (throws: no route)
  // Efficiency by message size, memoised (direct-mapped by the size's bits): flows of a step
  // repeat a few sizes, and each lookup otherwise costs a log and a binary search.
  static constexpr std::size_t kEffCache = 4096;
  struct EffEntry {
    double bytes = -1;
    double eff = 1;
  };
  std::vector<EffEntry> eff_cache_;  // [kind * kEffCache + slot]
  double efficiency(PathKind kind, Bytes bytes);
  std::vector<std::pair<std::int64_t, Delivered>> callbacks_;  // flows started with a callback
};

// `resolve_tolerance`: the flow model's re-solve tolerance (see FlowModel); ignored by "analytic".
std::unique_ptr<Network> make_network(NetworkModelKind model, EventQueue& queue, const Topology& topology,
                                      MessageCost cost, double resolve_tolerance = 0);

}  // namespace moesim
