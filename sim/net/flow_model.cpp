// Max-min fluid flow model with tolerance-batched re-solves and one clock per bottleneck link
// (see flow_model.hpp).
#include "net/flow_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/min_heap.hpp"

namespace moesim {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> link_capacities(const Topology& topology) {
  std::vector<double> c;
  c.reserve(static_cast<std::size_t>(topology.link_count()));
  for (const Link& l : topology.links()) c.push_back(l.bandwidth.bytes_per_ps());
  return c;
}
}  // namespace

FlowModel::FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost, double resolve_tolerance)
    : Network(queue, topology, std::move(cost)),
      tolerance_(resolve_tolerance),
      solver_(link_capacities(topology)),
      groups_(static_cast<std::size_t>(topology.link_count())),
      residual_(solver_.capacity().begin(), solver_.capacity().end()),
      busy_(static_cast<std::size_t>(topology.link_count())),
      windows_(static_cast<std::size_t>(topology.link_count())) {
  if (!(tolerance_ >= 0 && tolerance_ < 1)) throw Error("FlowModel: resolve tolerance must be in [0, 1)");
}

double FlowModel::left_of(const Flow& f, TimePs now) const {
  if (f.group == kOwn) return f.left - f.rate * static_cast<double>(now - f.ref_ps);
  const Group& g = groups_[static_cast<std::size_t>(f.group)];
  return f.left - (g.clock + g.level * static_cast<double>(now - g.clock_ps));
}

// Due when less than a picosecond of its data is left (rounding of event times).
bool FlowModel::is_due(std::uint32_t var, TimePs now) const {
  const Flow& f = flows_[var];
  const double left = left_of(f, now), rate = rate_of(f);
  return left <= 1e-6 || (rate > 0 && left <= rate);
}

void FlowModel::start(std::int64_t flow_id, std::uint64_t tag) {
  const TimePs now = queue_.now_ps();
  const std::span<const std::int32_t> path = path_of(flow_id);
  const std::uint32_t var = solver_.add(path);
  if (record_activity_)
    for (int l : path) {
      LinkBusy& b = busy_[static_cast<std::size_t>(l)];
      if (b.active++ == 0) b.since_ps = now;
    }
  if (var >= flows_.size()) {
    flows_.resize(var + 1, Flow{0, 0, 0, kOwn, 0});
    flow_info_.resize(var + 1);
  }
  const Declared& d = info(flow_id);
  Flow& f = flows_[var];
  f = Flow{d.eff_bytes, 0.0, now, kOwn, f.tick + 1};
  flow_info_[var] = FlowInfo{flow_id, tag, next_seq_++, flow_bytes(flow_id), latency_ps(d), -1, now};
  ++changes_;
  if (tolerance_ == 0 || changes_ >= threshold_ || solver_.size() == 1) {
    schedule_resolve();
    return;
  }
  if (resolve_pending_) return;  // the solve at this instant rates it
  // Until the next solve the flow takes what its links have left (nothing if one is full).
  double rate = kInf, smallest = kInf;
  for (int l : path) {
    if (residual_[static_cast<std::size_t>(l)] < rate) {
      rate = residual_[static_cast<std::size_t>(l)];
      flow_info_[var].own_link = l;
    }
    smallest = std::min(smallest, solver_.capacity()[static_cast<std::size_t>(l)]);
  }
  if (!(rate > 1e-3 * smallest)) {
    unrated_.push_back(var);
    if (!any_finish_pending()) schedule_resolve();  // nothing else will trigger a solve
    return;
  }
  for (int l : path) residual_[static_cast<std::size_t>(l)] -= rate;
  f.rate = rate;
  heap_push(own_, Entry{static_cast<double>(now) + f.left / rate, var, f.tick}, Entry::Less{});
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

bool FlowModel::top_valid(std::vector<Entry>& heap, bool groups) {
  while (!heap.empty()) {
    const Entry& e = heap.front();
    if ((groups ? groups_[e.id].tick : flows_[e.id].tick) == e.tick) return true;
    heap_pop(heap, Entry::Less{});
  }
  return false;
}

bool FlowModel::any_finish_pending() { return top_valid(own_, false) || top_valid(next_, true); }

const FlowModel::Entry* FlowModel::front(Group& g) {
  for (; g.head < g.queue.size(); ++g.head) {
    const Entry& e = g.queue[g.head];
    if (flows_[e.id].tick == e.tick) return &e;
  }
  return nullptr;
}

void FlowModel::sort_joined(Group& g) {
  const std::size_t n = g.joined.size();
  if (n < 2) return;
  if (n > kRankSortMax) {
    std::sort(g.joined.begin(), g.joined.end(), Entry::KeyLess{});
    return;
  }
  // Rank sort: an entry's place is the number of keys below it (equal keys take the next free
  // places, in their order here). n^2 compares, two at a time and without a branch that depends
  // on the keys: faster than std::sort at the sizes a solve moves into a group (a decode phase's
  // first solve brings each group about 70 flows in random order, where std::sort mispredicts
  // several branches per flow).
  __extension__ using V2d = double __attribute__((vector_size(16)));
  using V2i = decltype(V2d{} < V2d{});  // a true compare is -1
  const std::size_t padded = (n + 3) / 4 * 4;
  keys_.assign(padded, kInf);  // the padding is below no key (keys are finite)
  for (std::size_t i = 0; i < n; ++i) keys_[i] = g.joined[i].key;
  rank_.assign(n, 0);  // by rank: how many equal keys have taken their places
  merged_.resize(n);
  const double* const k = keys_.data();
  for (std::size_t i = 0; i < padded; i += 4) {  // four entries per pass over the keys
    V2d at[4];
    V2i below[4] = {};
    for (std::size_t e = 0; e < 4; ++e) at[e] = V2d{k[i + e], k[i + e]};
    for (std::size_t p = 0; p < padded; p += 2) {
      V2d kj;
      std::memcpy(&kj, k + p, sizeof kj);
      for (std::size_t e = 0; e < 4; ++e) below[e] -= kj < at[e];
    }
    for (std::size_t e = 0; e < 4 && i + e < n; ++e) {
      const auto r = static_cast<std::size_t>(below[e][0] + below[e][1]);
      merged_[r + rank_[r]++] = g.joined[i + e];
    }
  }
  g.joined.swap(merged_);
}

void FlowModel::merge_joined(Group& g) {
  // By key alone: flows with equal keys finish at the same instant, so they complete in the same
  // batch, which is put in start order anyway; their order here changes nothing.
  const Entry::KeyLess less;
  sort_joined(g);
  if (g.joined.size() <= 8 && !mostly_stale(g)) {
    // A few: inserted in place (a short memmove each), stale entries left for a later merge.
    for (const Entry& e : g.joined)
      g.queue.insert(std::upper_bound(g.queue.begin() + static_cast<std::ptrdiff_t>(g.head), g.queue.end(), e, less),
                     e);
    g.joined.clear();
    return;
  }
  merged_.clear();
  const auto valid = [this](const Entry& e) { return flows_[e.id].tick == e.tick; };
  auto a = g.queue.begin() + static_cast<std::ptrdiff_t>(g.head), a_end = g.queue.end();
  auto b = g.joined.begin(), b_end = g.joined.end();  // all valid: they moved in just now
  while (a != a_end && b != b_end) {
    if (!valid(*a)) {
      ++a;
    } else if (less(*b, *a)) {
      merged_.push_back(*b++);
    } else {
      merged_.push_back(*a++);
    }
  }
  for (; a != a_end; ++a)
    if (valid(*a)) merged_.push_back(*a);
  merged_.insert(merged_.end(), b, b_end);
  g.queue.swap(merged_);
  g.head = 0;
  g.joined.clear();
}

bool FlowModel::group_entry(std::int32_t link, Entry& entry) {
  Group& g = groups_[static_cast<std::size_t>(link)];
  ++g.tick;
  const Entry* e = g.level > 0 ? front(g) : nullptr;
  if (e == nullptr) return false;                        // empty, or stalled: no finish to wait for
  const double after_ps = (e->key - g.clock) / g.level;  // the key is the flow's `left`
  g.timer_ps = g.clock_ps + ceil_ps(after_ps);
  entry = Entry{static_cast<double>(g.clock_ps) + after_ps, static_cast<std::uint32_t>(link), g.tick};
  return true;
}

void FlowModel::arm_timer() {
  TimePs at = std::numeric_limits<TimePs>::max();
  if (top_valid(own_, false)) {
    const Flow& f = flows_[own_.front().id];
    at = f.ref_ps + ceil_ps(f.left / f.rate);
  }
  if (top_valid(next_, true)) at = std::min(at, groups_[next_.front().id].timer_ps);
  if (at == std::numeric_limits<TimePs>::max()) return;
  const TimePs now = queue_.now_ps();
  at = std::max(now + 1, at);
  if (timer_at_ >= 0 && timer_at_ <= at) return;
  timer_at_ = at;
  const std::uint64_t gen = ++timer_gen_;
  queue_.schedule(at, [this, gen] {
    if (gen == timer_gen_) on_timer();
  });
}

void FlowModel::reset_group(Group& g, TimePs now) {
  g.queue.clear();
  g.head = 0;
  g.joined.clear();
  g.clock = 0;  // a fresh clock keeps the subtraction in left_of exact
  g.clock_ps = now;
  g.live = 0;
  ++g.tick;
}

void FlowModel::complete_batch(TimePs now) {
  // In start order, as one pass over all flows would find them.
  std::sort(due_batch_.begin(), due_batch_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return flow_info_[a].seq < flow_info_[b].seq; });
  for (std::uint32_t var : due_batch_) {
    Flow& fl = flows_[var];
    const double rate = rate_of(fl);
    if (fl.group != kOwn) {
      Group& g = groups_[static_cast<std::size_t>(fl.group)];
      if (--g.live == 0) reset_group(g, now);
    }
    const FlowInfo f = flow_info_[var];
    const std::span<const std::int32_t> links = solver_.resources(var);
    const double eff_bytes = info(f.id).eff_bytes;
    for (std::int32_t l : links) residual_[static_cast<std::size_t>(l)] += rate;
    if (record_activity_)
      for (std::int32_t l : links) {
        LinkBusy& b = busy_[static_cast<std::size_t>(l)];
        if (--b.active == 0) b.busy_ps += now - b.since_ps;
        windows_.add(static_cast<std::size_t>(l), f.start_ps, now, eff_bytes);
      }
    account(links, f.bytes);
    set_bottleneck(f.id, fl.group != kOwn ? fl.group : f.own_link);
    solver_.remove(var);
    deliver(f.id, f.tag, now + f.latency_ps);
  }
  changes_ += due_batch_.size();
}

void FlowModel::take_due(TimePs now) {
  due_batch_.clear();
  while (top_valid(own_, false) && is_due(own_.front().id, now)) {
    due_batch_.push_back(own_.front().id);
    heap_pop(own_, Entry::Less{});
  }
  // Groups whose earliest finish has come (or is within rounding of it), each looked at once: a
  // group's next entry replaces it at the top of the heap (one sift instead of a pop and a push),
  // unless it is due by now too, in which case it waits for the end of the loop.
  deferred_.clear();
  const double by = static_cast<double>(now) + 2;
  while (top_valid(next_, true) && next_.front().key <= by) {
    const auto link = static_cast<std::int32_t>(next_.front().id);
    // As is_due(), from the entry's key (the flow's `left`) and the group's clock now.
    Group& g = groups_[static_cast<std::size_t>(link)];
    const double clock = g.clock + g.level * static_cast<double>(now - g.clock_ps);
    const double slack = std::max(1e-6, g.level);
    for (const Entry* e = front(g); e != nullptr && e->key - clock <= slack; e = front(g)) {
      due_batch_.push_back(e->id);
      ++g.head;
    }
    Entry next;
    if (!group_entry(link, next)) {
      heap_pop(next_, Entry::Less{});
    } else if (next.key <= by) {
      heap_pop(next_, Entry::Less{});
      deferred_.push_back(next);
    } else {
      heap_sift_down(next_, 0, next, Entry::Less{});
    }
  }
  for (const Entry& e : deferred_) heap_push(next_, e, Entry::Less{});
}

void FlowModel::on_timer() {
  timer_at_ = -1;
  const TimePs now = queue_.now_ps();
  take_due(now);
  complete_batch(now);
  if (changes_ >= threshold_ || (!unrated_.empty() && !any_finish_pending())) {
    resolve();
    return;
  }
  arm_timer();
}

void FlowModel::move_to(std::uint32_t var, std::int32_t link, TimePs now) {
  Flow& f = flows_[var];
  const double left = left_of(f, now);
  if (f.group != kOwn) {
    Group& old = groups_[static_cast<std::size_t>(f.group)];
    if (--old.live == 0) reset_group(old, now);
  }
  Group& g = groups_[static_cast<std::size_t>(link)];
  if (g.live++ == 0) g.clock_ps = now;  // a group is reset when it empties: its clock starts now
  f.group = link;
  ++f.tick;
  f.left = g.clock + left;
  g.joined.push_back(Entry{f.left, var, f.tick});
}

void FlowModel::stall_group(std::int32_t link, TimePs now) {
  // Fixed at no rate (a link with nothing left: rounding): its flows wait for the next solve.
  Group& g = groups_[static_cast<std::size_t>(link)];
  merge_joined(g);
  for (const Entry& e : g.queue) {
    Flow& f = flows_[e.id];
    if (f.tick != e.tick) continue;
    f = Flow{f.left - g.clock, 0.0, now, kOwn, f.tick + 1};
    solver_.forget_bottleneck(e.id);
    unrated_.push_back(e.id);
  }
  reset_group(g, now);
}

void FlowModel::resolve() {
  const TimePs now = queue_.now_ps();
  // Complete what is due now, and zero-byte flows among the unrated.
  take_due(now);
  for (std::uint32_t var : unrated_)
    if (is_due(var, now)) due_batch_.push_back(var);
  complete_batch(now);

  ++timer_gen_;
  timer_at_ = -1;
  unrated_.clear();
  changes_ = 0;
  own_.clear();  // every flow left is fixed by the solve below, own ones included
  next_.clear();
  if (solver_.size() == 0) {
    windows_.settle(now);  // nothing in flight: later flows start from now on
    residual_.assign(solver_.capacity().begin(), solver_.capacity().end());
    threshold_ = 1;
    return;
  }
  threshold_ = std::max<std::size_t>(1, static_cast<std::size_t>(tolerance_ * static_cast<double>(solver_.size())));
  // Every group's clock up to now at its old level; then the solve moves the flows whose
  // bottleneck changed, and the groups take their new levels.
  for (const MaxMinSolver::Level& l : solver_.bottlenecks()) {
    Group& g = groups_[static_cast<std::size_t>(l.resource)];
    if (g.live == 0) continue;
    g.clock += g.level * static_cast<double>(now - g.clock_ps);
    g.clock_ps = now;
  }
  solver_.solve([this, now](std::uint32_t var, std::int32_t link) { move_to(var, link, now); });
  ++solves_;
  for (const MaxMinSolver::Level& l : solver_.bottlenecks()) {
    Group& g = groups_[static_cast<std::size_t>(l.resource)];
    if (!(l.share > 0)) {
      stall_group(l.resource, now);
      continue;
    }
    g.level = l.share;
    if (!g.joined.empty() || mostly_stale(g)) merge_joined(g);
    Entry e;
    if (group_entry(l.resource, e)) next_.push_back(e);
  }
  // One heapify instead of a push per group (the heap orders by key and link: the same front).
  heap_make(next_, Entry::Less{});
  residual_.assign(solver_.remaining().begin(), solver_.remaining().end());
  arm_timer();
}

}  // namespace moesim
