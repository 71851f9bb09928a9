// Max-min fluid flow model (see flow_model.hpp).
#include "net/flow_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moesim {

FlowModel::FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost)
    : Network(queue, topology, std::move(cost)) {
  capacity_.reserve(static_cast<std::size_t>(topology.link_count()));
  for (const Link& l : topology.links()) capacity_.push_back(bytes_per_ps(l.bandwidth_GBps));
}

void FlowModel::start(std::int64_t flow_id, Delivered on_delivered) {
  const Declared& d = info(flow_id);
  advance();
  active_.push_back(Active{flow_id, &path_of(flow_id), d.eff_bytes, 0.0, std::move(on_delivered)});
  schedule_resolve();
}

void FlowModel::schedule_resolve() {
  if (resolve_pending_) return;
  resolve_pending_ = true;
  // Runs after every event already queued for this instant, so simultaneous starts share a solve.
  queue_.schedule(queue_.now_ps(), [this] {
    resolve_pending_ = false;
    resolve();
  });
}

void FlowModel::advance() {
  const TimePs now = queue_.now_ps();
  const double dt = static_cast<double>(now - last_update_ps_);
  if (dt > 0)
    for (Active& a : active_) a.remaining -= a.rate * dt;
  last_update_ps_ = now;
}

void FlowModel::resolve() {
  advance();
  const TimePs now = queue_.now_ps();
  // Complete every flow with less than a picosecond of data left (rounding of event times).
  std::size_t keep = 0;
  for (std::size_t i = 0; i < active_.size(); ++i) {
    Active& a = active_[i];
    if (a.remaining <= 1e-6 || (a.rate > 0 && a.remaining <= a.rate)) {
      account(a.id);
      const TimePs at = now + info(a.id).latency_ps;
      queue_.schedule(at, [cb = std::move(a.on_delivered), at] { cb(at); });
    } else {
      if (keep != i) active_[keep] = std::move(a);
      ++keep;
    }
  }
  active_.resize(keep);
  ++generation_;
  if (active_.empty()) return;

  offsets_.assign(1, 0);
  resources_.clear();
  for (const Active& a : active_) {
    resources_.insert(resources_.end(), a.path->begin(), a.path->end());
    offsets_.push_back(static_cast<std::uint32_t>(resources_.size()));
  }
  solver_.solve(capacity_, offsets_, resources_, rates_);
  ++solves_;

  double next = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < active_.size(); ++i) {
    active_[i].rate = rates_[i];
    if (rates_[i] > 0) next = std::min(next, active_[i].remaining / rates_[i]);
  }
  if (!std::isfinite(next)) return;  // cannot happen with positive capacities; nothing to wait for
  const std::uint64_t gen = generation_;
  const auto at = now + std::max<TimePs>(1, static_cast<TimePs>(std::ceil(next)));
  queue_.schedule(at, [this, gen] {
    if (gen == generation_) resolve();
  });
}

}  // namespace moesim
