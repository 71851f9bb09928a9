// Max-min fluid flow model with tolerance-batched re-solves (see flow_model.hpp).
#include "net/flow_model.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "core/error.hpp"

namespace moesim {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
// A flow is due when less than a picosecond of its data is left (rounding of event times).
bool due(double remaining, double rate) { return remaining <= 1e-6 || (rate > 0 && remaining <= rate); }
}  // namespace

FlowModel::FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost, double resolve_tolerance)
    : Network(queue, topology, std::move(cost)), tolerance_(resolve_tolerance) {
  if (!(tolerance_ >= 0 && tolerance_ < 1)) throw Error("FlowModel: resolve tolerance must be in [0, 1)");
  capacity_.reserve(static_cast<std::size_t>(topology.link_count()));
  for (const Link& l : topology.links()) capacity_.push_back(bytes_per_ps(l.bandwidth_GBps));
  residual_ = capacity_;
}

void FlowModel::push_due(std::uint32_t index) {
  const Active& a = active_[index];
  due_.push_back(Due{static_cast<double>(a.ref_ps) + a.remaining / a.rate, index});
  std::push_heap(due_.begin(), due_.end(), std::greater<>{});
}

void FlowModel::start(std::int64_t flow_id, std::uint64_t tag) {
  const TimePs now = queue_.now_ps();
  active_.push_back(Active{flow_id, &path_of(flow_id), info(flow_id).eff_bytes, 0.0, now, tag, false});
  ++changes_;
  if (tolerance_ == 0 || changes_ >= threshold_ || active_.size() == 1) {
    schedule_resolve();
    return;
  }
  if (resolve_pending_) return;  // the solve at this instant rates it
  // Until the next solve the flow takes what its links have left (nothing if one is full).
  Active& a = active_.back();
  double rate = kInf, smallest = kInf;
  for (int l : *a.path) {
    rate = std::min(rate, residual_[static_cast<std::size_t>(l)]);
    smallest = std::min(smallest, capacity_[static_cast<std::size_t>(l)]);
  }
  if (!(rate > 1e-3 * smallest)) {
    ++unrated_;
    if (due_.empty()) schedule_resolve();  // nothing else will trigger a solve
    return;
  }
  for (int l : *a.path) residual_[static_cast<std::size_t>(l)] -= rate;
  a.rate = rate;
  push_due(static_cast<std::uint32_t>(active_.size() - 1));
  arm_timer();
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

void FlowModel::arm_timer() {
  if (due_.empty()) return;
  const Active& a = active_[due_.front().index];
  const TimePs now = queue_.now_ps();
  const auto at = std::max(now + 1, a.ref_ps + static_cast<TimePs>(std::ceil(a.remaining / a.rate)));
  if (timer_at_ >= 0 && timer_at_ <= at) return;
  timer_at_ = at;
  const std::uint64_t gen = ++timer_gen_;
  queue_.schedule(at, [this, gen] {
    if (gen == timer_gen_) on_timer();
  });
}

void FlowModel::complete(Active& a, TimePs now) {
  a.done = true;
  for (int l : *a.path) residual_[static_cast<std::size_t>(l)] += a.rate;
  account(a.id);
  deliver(a.id, a.tag, now + info(a.id).latency_ps);
}

void FlowModel::on_timer() {
  timer_at_ = -1;
  const TimePs now = queue_.now_ps();
  // Everything due by now, delivered in start order (as a full re-solve would).
  std::vector<std::uint32_t>& batch = due_batch_;
  batch.clear();
  while (!due_.empty()) {
    const Active& a = active_[due_.front().index];
    if (!due(a.remaining - a.rate * static_cast<double>(now - a.ref_ps), a.rate)) break;
    batch.push_back(due_.front().index);
    std::pop_heap(due_.begin(), due_.end(), std::greater<>{});
    due_.pop_back();
  }
  std::sort(batch.begin(), batch.end());
  for (std::uint32_t i : batch) complete(active_[i], now);
  changes_ += batch.size();
  if (changes_ >= threshold_ || (due_.empty() && unrated_ > 0)) {
    resolve();
    return;
  }
  arm_timer();
}

void FlowModel::resolve() {
  const TimePs now = queue_.now_ps();
  // Bring live flows up to date; delivered ones stay as tombstones until they are a quarter of
  // the list (compacting on every solve would copy every flow).
  // The solver's input is written in place (sized for the worst case, trimmed after): growing
  // vectors element by element cost more than the solve's own arithmetic.
  const std::size_t n = active_.size();
  live_.resize(n);
  offsets_.resize(n + 1);
  offsets_[0] = 0;
  std::size_t used = 0, live = 0, dead = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Active& a = active_[i];
    if (!a.done) {
      a.remaining -= a.rate * static_cast<double>(now - a.ref_ps);
      a.ref_ps = now;
      if (due(a.remaining, a.rate)) complete(a, now);
    }
    if (a.done) {
      ++dead;
      continue;
    }
    const std::size_t len = a.path->size();
    if (resources_.size() < used + len) resources_.resize(std::max(2 * resources_.size(), used + len));
    std::copy(a.path->begin(), a.path->end(), resources_.begin() + static_cast<std::ptrdiff_t>(used));
    used += len;
    live_[live] = static_cast<std::uint32_t>(i);
    offsets_[++live] = static_cast<std::uint32_t>(used);
  }
  live_.resize(live);
  offsets_.resize(live + 1);
  if (dead > 0 && (dead * 4 > active_.size() || live_.empty())) {
    std::size_t keep = 0;
    for (std::uint32_t i : live_) active_[keep++] = active_[i];
    active_.resize(keep);
    for (std::size_t i = 0; i < keep; ++i) live_[i] = static_cast<std::uint32_t>(i);
  }
  ++timer_gen_;
  timer_at_ = -1;
  due_.clear();
  changes_ = 0;
  unrated_ = 0;
  residual_ = capacity_;
  if (live_.empty()) {
    threshold_ = 1;
    return;
  }
  solver_.solve(capacity_, offsets_, std::span<const std::int32_t>(resources_.data(), used), rates_);
  ++solves_;

  for (std::size_t v = 0; v < live_.size(); ++v) {
    const std::uint32_t i = live_[v];
    Active& a = active_[i];
    a.rate = rates_[v];
    for (int l : *a.path) residual_[static_cast<std::size_t>(l)] -= a.rate;
    if (a.rate > 0) due_.push_back(Due{static_cast<double>(now) + a.remaining / a.rate, i});
  }
  threshold_ = std::max<std::size_t>(1, static_cast<std::size_t>(tolerance_ * static_cast<double>(live_.size())));
  // The next solve comes after `threshold_` changes at the latest, so only that many earliest
  // finishers can complete before it (a flow finishing at the same instant as the last of them is
  // completed by that solve): keep just those in the heap.
  if (due_.size() > threshold_) {
    std::nth_element(due_.begin(), due_.begin() + static_cast<std::ptrdiff_t>(threshold_ - 1), due_.end(),
                     [](const Due& x, const Due& y) { return y > x; });
    due_.resize(threshold_);
  }
  std::make_heap(due_.begin(), due_.end(), std::greater<>{});
  arm_timer();
}

}  // namespace moesim
