// Max-min fluid flow model with tolerance-batched re-solves (see flow_model.hpp).
#include "net/flow_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/min_heap.hpp"

namespace moesim {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> link_capacities(const Topology& topology) {
  std::vector<double> c;
  c.reserve(static_cast<std::size_t>(topology.link_count()));
  for (const Link& l : topology.links()) c.push_back(bytes_per_ps(l.bandwidth_GBps));
  return c;
}
}  // namespace

FlowModel::FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost, double resolve_tolerance)
    : Network(queue, topology, std::move(cost)),
      tolerance_(resolve_tolerance),
      solver_(link_capacities(topology)),
      residual_(solver_.capacity().begin(), solver_.capacity().end()) {
  if (!(tolerance_ >= 0 && tolerance_ < 1)) throw Error("FlowModel: resolve tolerance must be in [0, 1)");
}

// Due when less than a picosecond of its data is left (rounding of event times).
bool FlowModel::is_due(std::uint32_t var, TimePs now) const {
  const Flow& f = flows_[var];
  const double left = f.remaining - f.rate * static_cast<double>(now - f.ref_ps);
  return left <= 1e-6 || (f.rate > 0 && left <= f.rate);
}

void FlowModel::push_due(std::uint32_t var) {
  const Flow& f = flows_[var];
  heap_push(due_, Due{static_cast<double>(f.ref_ps) + f.remaining / f.rate, var}, Due::Less{});
}

void FlowModel::start(std::int64_t flow_id, std::uint64_t tag) {
  const TimePs now = queue_.now_ps();
  const Path& path = path_of(flow_id);
  const std::uint32_t var = solver_.add(path);
  if (var >= flows_.size()) {
    flows_.resize(var + 1);
    flow_info_.resize(var + 1);
  }
  const Declared& d = info(flow_id);
  flows_[var] = Flow{d.eff_bytes, 0.0, now};
  flow_info_[var] = FlowInfo{flow_id, tag, next_seq_++, flow(flow_id).bytes, d.latency_ps};
  ++changes_;
  if (tolerance_ == 0 || changes_ >= threshold_ || solver_.size() == 1) {
    schedule_resolve();
    return;
  }
  if (resolve_pending_) return;  // the solve at this instant rates it
  // Until the next solve the flow takes what its links have left (nothing if one is full).
  double rate = kInf, smallest = kInf;
  for (int l : path) {
    rate = std::min(rate, residual_[static_cast<std::size_t>(l)]);
    smallest = std::min(smallest, solver_.capacity()[static_cast<std::size_t>(l)]);
  }
  if (!(rate > 1e-3 * smallest)) {
    unrated_.push_back(var);
    if (due_.empty()) schedule_resolve();  // nothing else will trigger a solve
    return;
  }
  for (int l : path) residual_[static_cast<std::size_t>(l)] -= rate;
  flows_[var].rate = rate;
  push_due(var);
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
  const Flow& f = flows_[due_.front().var];
  const TimePs now = queue_.now_ps();
  const auto at = std::max(now + 1, f.ref_ps + static_cast<TimePs>(std::ceil(f.remaining / f.rate)));
  if (timer_at_ >= 0 && timer_at_ <= at) return;
  timer_at_ = at;
  const std::uint64_t gen = ++timer_gen_;
  queue_.schedule(at, [this, gen] {
    if (gen == timer_gen_) on_timer();
  });
}

void FlowModel::complete_batch(TimePs now) {
  // In start order, as one pass over all flows would find them.
  std::sort(due_batch_.begin(), due_batch_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return flow_info_[a].seq < flow_info_[b].seq; });
  for (std::uint32_t var : due_batch_) {
    const double rate = flows_[var].rate;
    const FlowInfo f = flow_info_[var];
    const std::span<const std::int32_t> links = solver_.resources(var);
    for (std::int32_t l : links) residual_[static_cast<std::size_t>(l)] += rate;
    account(links, f.bytes);
    solver_.remove(var);
    deliver(f.id, f.tag, now + f.latency_ps);
  }
  changes_ += due_batch_.size();
}

void FlowModel::take_due(TimePs now) {
  due_batch_.clear();
  while (!due_.empty() && is_due(due_.front().var, now)) {
    due_batch_.push_back(due_.front().var);
    heap_pop(due_, Due::Less{});
  }
}

void FlowModel::on_timer() {
  timer_at_ = -1;
  const TimePs now = queue_.now_ps();
  take_due(now);
  complete_batch(now);
  if (changes_ >= threshold_ || (due_.empty() && !unrated_.empty())) {
    resolve();
    return;
  }
  arm_timer();
}

void FlowModel::select_due() {
  // The next solve comes after `threshold_` changes at the latest, so only that many earliest
  // finishers can complete before it. They go to the heap, with every flow finishing by the same
  // time (tail_bound_ps_); the rest, the tail, wait for that solve, which also completes the tail
  // flows finishing at the same instant as the last of the heap.
  const std::size_t n = rated_.size(), k = threshold_;
  due_.clear();
  if (n <= k) {
    due_.assign(rated_.begin(), rated_.end());
    return;
  }
  const auto take_by = [&](double bound) {
    due_.clear();
    for (const Due& d : rated_)
      if (d.finish_ps <= bound) due_.push_back(d);
    tail_bound_ps_ = bound;
  };
  // Usually a bound a little past the k-th finish, from a sample, is enough (a few more flows in
  // the heap cost little); when it takes fewer than k, the exact k-th finish.
  constexpr std::size_t kSample = 64;
  if (n >= 4 * kSample) {
    sample_.resize(kSample);
    for (std::size_t i = 0; i < kSample; ++i) sample_[i] = rated_[i * n / kSample].finish_ps;
    const std::size_t rank = std::min(kSample - 1, (k * kSample + n - 1) / n + 2);
    std::nth_element(sample_.begin(), sample_.begin() + static_cast<std::ptrdiff_t>(rank), sample_.end());
    take_by(sample_[rank]);
    if (due_.size() >= k) return;
  }
  sample_.resize(n);
  for (std::size_t i = 0; i < n; ++i) sample_[i] = rated_[i].finish_ps;
  const auto kth = sample_.begin() + static_cast<std::ptrdiff_t>(k - 1);
  std::nth_element(sample_.begin(), kth, sample_.end());
  take_by(*kth);
}

void FlowModel::resolve() {
  const TimePs now = queue_.now_ps();
  // Complete what is due now: from the heap, from the tail when its earliest finish may have
  // come, and zero-byte flows among the unrated.
  take_due(now);
  if (tail_bound_ps_ <= static_cast<double>(now) + 2)
    for (const Due& d : rated_)  // the tail: every rated flow after the heap's last
      if (d.finish_ps > tail_bound_ps_ && d.finish_ps <= static_cast<double>(now) + 2 && is_due(d.var, now)) due_batch_.push_back(d.var);
  for (std::uint32_t var : unrated_)
    if (is_due(var, now)) due_batch_.push_back(var);
  complete_batch(now);

  ++timer_gen_;
  timer_at_ = -1;
  due_.clear();
  tail_bound_ps_ = kInf;
  unrated_.clear();
  changes_ = 0;
  if (solver_.size() == 0) {
    rated_.clear();
    residual_.assign(solver_.capacity().begin(), solver_.capacity().end());
    threshold_ = 1;
    return;
  }
  // New rates, and each rated flow's finish time (written in place: pushing element by element
  // cost as much as the solve's arithmetic). Flows finishing within the last solve's horizon go
  // straight to the heap too; select_due() corrects that guess when it took too few or too many.
  threshold_ = std::max<std::size_t>(1, static_cast<std::size_t>(tolerance_ * static_cast<double>(solver_.size())));
  rated_.resize(solver_.size());
  due_.resize(solver_.size());
  Flow* const flows = flows_.data();
  Due* const rated = rated_.data();
  Due* const early = due_.data();
  std::size_t n = 0, n_early = 0;
  bool any_unrated = false;
  const double now_d = static_cast<double>(now);
  const double guess = now_d + horizon_ps_;
  solver_.solve([&](std::uint32_t var, double rate) {
    Flow& f = flows[var];
    f.remaining -= f.rate * static_cast<double>(now - f.ref_ps);
    f.ref_ps = now;
    f.rate = rate;
    const Due d{now_d + f.remaining / rate, var};  // rate 0: sorted out below (rare)
    rated[n++] = d;
    if (d.finish_ps <= guess) early[n_early++] = d;
    any_unrated |= !(rate > 0);
  });
  rated_.resize(n);
  due_.resize(n_early);
  if (any_unrated) {
    const auto unrated = std::stable_partition(rated_.begin(), rated_.end(), [&](const Due& d) { return flows[d.var].rate > 0; });
    for (auto it = unrated; it != rated_.end(); ++it) unrated_.push_back(it->var);
    rated_.erase(unrated, rated_.end());
    due_.clear();  // may hold some of them: select afresh
  }
  ++solves_;
  residual_.assign(solver_.remaining().begin(), solver_.remaining().end());
  if (rated_.size() > threshold_ && due_.size() >= threshold_ && due_.size() <= 2 * threshold_ + 64)
    tail_bound_ps_ = guess;
  else
    select_due();
  // The next guess: this solve's horizon (infinite when every rated flow is in the heap), scaled
  // towards a heap of about 1.3 x threshold (a heap much larger than the threshold is built for
  // flows that will not finish before the next solve).
  horizon_ps_ = tail_bound_ps_ - now_d;
  const double aim = 1.3 * static_cast<double>(threshold_);
  if (static_cast<double>(due_.size()) > 1.5 * aim) horizon_ps_ *= aim / static_cast<double>(due_.size());
  heap_make(due_, Due::Less{});
  arm_timer();
}

}  // namespace moesim
