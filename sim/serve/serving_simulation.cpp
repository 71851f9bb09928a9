// Request-level serving on top of the step engine (see serving_simulation.hpp).
#include "serve/serving_simulation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "comm/ep_kernel.hpp"
#include "core/error.hpp"
#include "serve/request_source.hpp"

namespace moesim {

namespace {
constexpr std::uint64_t kServeStream = 0x7365727665ULL;  // "serve"
}

ServingSimulation::ServingSimulation(const Scenario& scenario, const Topology& topology, const Profile& profile,
                                     std::vector<Request> trace, const Placement* placement)
    : scenario_(scenario),
      topology_(topology),
      profile_(profile),
      placement_(placement),
      trace_(std::move(trace)),
      lengths_(scenario_.serving, trace_),
      rng_(Rng::derived(scenario.seed, kServeStream)) {
  const ServingSpec& v = scenario_.serving;
  const ModelSpec& m = scenario_.model;
  const int ep = Simulation::ep_gpus(scenario_, topology_);
  // KV cache per token over every layer the step runs (the MTP module's included).
  const auto kv_per_token = [&](int extra) { return m.kv_bytes_per_token * (m.layers + extra); };
  if (v.disaggregated) {
    PoolSpec pre = v.prefill_pool;
    pre.ep = pre.ep > 0 ? pre.ep : ep;
    pre.prefill_chunk = v.pool.prefill_chunk;
    pre.max_running = v.pool.max_running;
    add_pool(PoolRole::prefill, pre, 0, static_cast<std::int64_t>(std::ceil(kv_per_token(0))));
    PoolSpec dec = v.pool;
    dec.ep = ep;
    add_pool(PoolRole::decode, dec, pre.ep * pre.replicas,
             static_cast<std::int64_t>(std::ceil(kv_per_token(v.mtp_draft_tokens))));
    const EpKernel kernel = EpKernel::from_profile(profile_, scenario_.ep_kernel, scenario_.file);
    kv_network_ = make_network(NetworkModelKind::flow, queue_, topology_, kernel.message_cost(profile_), 0.0);
    for (const Link& l : topology_.links()) link_capacity_.push_back(l.bandwidth.bytes_per_ps());
  } else {
    PoolSpec pool = v.pool;
    pool.ep = ep;
    add_pool(PoolRole::colocated, pool, 0, static_cast<std::int64_t>(std::ceil(kv_per_token(v.mtp_draft_tokens))));
  }
  for (int r = 0; r < static_cast<int>(ranks_.size()); ++r) events_.push_back(make_events(r));
  const int gpus = pools_.back().first_gpu + pools_.back().spec.ep * pools_.back().spec.replicas;
  if (gpus > topology_.gpu_count())
    throw Infeasible(fmt::format("{}: serving needs {} GPUs ({}) but topology {} has {}", scenario_.file, gpus,
                                 v.disaggregated ? "prefill and decode pools" : "EP group x replicas", topology_.name(),
                                 topology_.gpu_count()));
}

ServingSimulation::~ServingSimulation() = default;

void ServingSimulation::add_pool(PoolRole role, const PoolSpec& spec, int first_gpu, std::int64_t kv_bytes_per_token) {
  Pool p;
  p.role = role;
  p.spec = spec;
  p.first_gpu = first_gpu;
  Scenario s = scenario_;
  s.ep_size = spec.ep;
  const int extra = role == PoolRole::prefill ? 0 : scenario_.serving.mtp_draft_tokens;
  const Placement* placement = spec.ep == Simulation::ep_gpus(scenario_, topology_) ? placement_ : nullptr;
  if (s.placement == PlacementKind::from_file && !placement)
    throw InputError(
        fmt::format("{}: placement.kind = \"from_file\" fits only the pool of parallelism.ep GPUs; "
                    "the prefill pool (serving.prefill_ep = {}) needs another kind",
                    scenario_.file, spec.ep));
  if (first_gpu % topology_.gpu_count() != 0) p.frame = std::make_unique<Topology>(topology_.renumbered_from(first_gpu));
  p.cost = std::make_unique<StepCostModel>(s, p.frame ? *p.frame : topology_, profile_, extra,
                                           scenario_.serving.memo_tolerance, scenario_.serving.check_samples, placement);
  const Simulation& sim = p.cost->simulation();
  const double capacity = sim.memory_capacity().count();
  if (capacity <= 0)
    throw InputError(
        fmt::format("{}: serving needs the GPU memory size (the topology's gpu_memory_GB or the "
                    "profile's memory_GB) to size the KV cache",
                    scenario_.file));
  const double free = (capacity - sim.memory().max_total_bytes().count()) * scenario_.serving.kv_memory_fraction;
  const double per_token = std::max<double>(1, static_cast<double>(kv_bytes_per_token));
  const std::int64_t kv_tokens = static_cast<std::int64_t>(std::min(free / per_token, 1e15));
  if (kv_tokens < 1)
    throw Infeasible(fmt::format("{}: the {} pool's weights leave no HBM for the KV cache ({:.1f} GB of {:.1f} GB)",
                                 scenario_.file, pool_role_name(role), sim.memory().max_total_bytes().GB(),
                                 capacity / 1e9));
  p.first_rank = static_cast<int>(ranks_.size());
  p.ranks = spec.ep * spec.replicas;
  const auto mode = role == PoolRole::prefill  ? RankScheduler::Mode::prefill_only
                    : role == PoolRole::decode ? RankScheduler::Mode::decode_only
                                               : RankScheduler::Mode::colocated;
  const int pool_index = static_cast<int>(pools_.size());
  for (int r = 0; r < spec.replicas; ++r) {
    replicas_.push_back({pool_index, static_cast<int>(ranks_.size()), false});
    for (int i = 0; i < spec.ep; ++i) {
      ranks_.emplace_back(first_gpu + r * spec.ep + i, spec, kv_tokens, mode, extra, scenario_.serving.mtp_acceptance);
      rank_replica_.push_back(static_cast<int>(replicas_.size()) - 1);
    }
  }
  PoolResult pr;
  pr.role = role;
  pr.first_gpu = first_gpu;
  pr.ep = spec.ep;
  pr.replicas = spec.replicas;
  pr.kv_capacity_tokens = kv_tokens;
  out_.pools.push_back(pr);
  pools_.push_back(std::move(p));
}

int ServingSimulation::route(Pool& pool) {
  int pick = pool.first_rank + pool.next_rank;
  if (scenario_.serving.routing == RankRouting::least_loaded) {
    // The fewest requests queued, running or on their way; ties go round robin.
    int best = -1;
    for (int i = 0; i < pool.ranks; ++i) {
      const int r = pool.first_rank + (pool.next_rank + i) % pool.ranks;
      const int load = ranks_[static_cast<std::size_t>(r)].load() + incoming_[static_cast<std::size_t>(r)];
      if (best < 0 || load < best) {
        best = load;
        pick = r;
      }
    }
  }
  pool.next_rank = (pool.next_rank + 1) % pool.ranks;
  return pick;
}

RankScheduler::Events ServingSimulation::make_events(int rank) {
  RankScheduler::Events ev;
  ev.first_token = [this](int rec) { out_.requests[static_cast<std::size_t>(rec)].first_token_ps = queue_.now_ps(); };
  ev.finished = [this](int rec) { finish(rec); };
  ev.prefilled = [this, rank](const LiveRequest& q) { transfer_kv(q, rank); };
  ev.preempted = [this](int rec) {
    ++out_.requests[static_cast<std::size_t>(rec)].preemptions;
    ++out_.preemptions;
  };
  return ev;
}

void ServingSimulation::arrive(int record) {
  RequestRecord& rec = out_.requests[static_cast<std::size_t>(record)];
  const ServingSpec& v = scenario_.serving;
  Pool& first = pools_.front();
  // A request no rank could ever hold is refused rather than left waiting forever.
  const std::int64_t whole = static_cast<std::int64_t>(rec.prompt_tokens) + rec.output_tokens + v.mtp_draft_tokens;
  bool fits = out_.pools.front().kv_capacity_tokens >= (v.disaggregated ? rec.prompt_tokens : whole);
  if (v.disaggregated) fits = fits && out_.pools.back().kv_capacity_tokens >= whole;
  if (!fits) {
    rec.rejected = true;
    if (!user_of_.empty()) finish(record);
    return;
  }
  ++outstanding_;
  const int rank = route(first);
  (v.disaggregated ? rec.prefill_rank : rec.rank) = ranks_[static_cast<std::size_t>(rank)].gpu();
  LiveRequest q;
  q.record = record;
  q.prompt = rec.prompt_tokens;
  q.target = rec.output_tokens;
  ranks_[static_cast<std::size_t>(rank)].enqueue(q);
  kick(rank_replica_[static_cast<std::size_t>(rank)]);
}

void ServingSimulation::kick(int replica) {
  Replica& rep = replicas_[static_cast<std::size_t>(replica)];
  if (rep.busy) return;
  Pool& pool = pools_[static_cast<std::size_t>(rep.pool)];
  const int ep = pool.spec.ep;
  StepShape shape;
  for (int i = 0; i < ep; ++i) {
    RankScheduler& r = ranks_[static_cast<std::size_t>(rep.first_rank + i)];
    if (!r.has_work()) continue;
    r.plan(events_[static_cast<std::size_t>(rep.first_rank + i)]);
    const std::int64_t t = r.step_tokens();
    if (t == 0) continue;
    shape.tokens += t;
    shape.max_rank_tokens = std::max(shape.max_rank_tokens, static_cast<int>(t));
    shape.max_rank_ps = std::max(shape.max_rank_ps, pool.cost->rank_ps(r.step_work()));
  }
  if (shape.tokens == 0) return;  // nothing admissible: an arrival, a finish or a transfer kicks it again
  rep.busy = true;
  TimePs step = pool.cost->step_ps(shape, [&](StepBatch& b) {
    for (int i = 0; i < ep; ++i)
      ranks_[static_cast<std::size_t>(rep.first_rank + i)].append_chunks(b.ranks[static_cast<std::size_t>(i)]);
  });
  PoolResult& pr = out_.pools[static_cast<std::size_t>(rep.pool)];
  const auto contention = static_cast<TimePs>(std::llround(static_cast<double>(step) * pool.kv_stretch));
  pr.kv_contention_ps += contention;
  step += contention;
  ++pr.steps;
  pr.busy_ps += step;
  pr.tokens += shape.tokens;
  pool.last_tokens = shape.tokens;
  pool.last_step_ps = step;
  queue_.schedule_in(std::max<TimePs>(step, 1), [this, replica] { end_step(replica); });
}

void ServingSimulation::end_step(int replica) {
  Replica& rep = replicas_[static_cast<std::size_t>(replica)];
  const int ep = pools_[static_cast<std::size_t>(rep.pool)].spec.ep;
  for (int i = 0; i < ep; ++i)
    ranks_[static_cast<std::size_t>(rep.first_rank + i)].finish_step(
        rng_, events_[static_cast<std::size_t>(rep.first_rank + i)]);
  rep.busy = false;
  kick(replica);
}

void ServingSimulation::transfer_kv(const LiveRequest& q, int prefill_rank) {
  RankScheduler& from = ranks_[static_cast<std::size_t>(prefill_rank)];
  if (q.generated >= q.target) {  // a one-token request is done at its prefill
    from.release_kv(q.kv);
    finish(q.record);
    return;
  }
  const int to = route(pools_.back());
  ++incoming_[static_cast<std::size_t>(to)];
  RankScheduler& dst = ranks_[static_cast<std::size_t>(to)];
  out_.requests[static_cast<std::size_t>(q.record)].rank = dst.gpu();
  // The prompt's KV cache of every layer, from the prefill GPU to the decode GPU.
  const Bytes bytes(static_cast<double>(q.prompt) * scenario_.model.kv_bytes_per_token * scenario_.model.layers);
  out_.kv_transfer_bytes += bytes;
  ++out_.kv_transfers;
  const std::int64_t id =
      kv_network_->declare({FlowDecl{from.gpu(), dst.gpu(), bytes, 1}}, static_cast<std::uint64_t>(q.record));
  out_.kv_share_sum += kv_network_->background_share(id);
  LiveRequest moved = q;
  moved.kv = 0;
  moved.step_tokens = 0;
  kv_network_->start(id, [this, moved, prefill_rank, to, held = q.kv](TimePs) {
    ranks_[static_cast<std::size_t>(prefill_rank)].release_kv(held);
    kick(rank_replica_[static_cast<std::size_t>(prefill_rank)]);
    --incoming_[static_cast<std::size_t>(to)];
    ranks_[static_cast<std::size_t>(to)].enqueue(moved);
    kick(rank_replica_[static_cast<std::size_t>(to)]);
  });
}

void ServingSimulation::finish(int record) {
  RequestRecord& rec = out_.requests[static_cast<std::size_t>(record)];
  if (!rec.rejected) {
    rec.finish_ps = queue_.now_ps();
    out_.end_ps = std::max(out_.end_ps, rec.finish_ps);
    --outstanding_;
  }
  if (user_of_.empty()) return;
  // Closed loop: the user sends the next request after thinking, while the window is open.
  const TimePs next = queue_.now_ps() + ps_from_us(scenario_.serving.think_s * 1e6);
  const int user = user_of_[static_cast<std::size_t>(record)];
  if (next >= out_.window_ps) return;
  const ServingSpec& v = scenario_.serving;
  if (v.max_requests > 0 && out_.requests.size() >= static_cast<std::size_t>(v.max_requests)) return;
  queue_.schedule(next, [this, user] { arrive(new_request(queue_.now_ps(), user)); });
}

int ServingSimulation::new_request(TimePs at, int user) {
  RequestRecord r;
  r.id = static_cast<std::int64_t>(out_.requests.size());
  r.arrival_ps = at;
  r.prompt_tokens = lengths_.prompt(rng_);
  r.output_tokens = lengths_.output(rng_);
  out_.requests.push_back(r);
  user_of_.push_back(user);
  return static_cast<int>(r.id);
}

void ServingSimulation::update_contention() {
  const TimePs now = queue_.now_ps();
  const double interval = static_cast<double>(now - contention_at_ps_);
  if (interval <= 0) return;
  const std::size_t links = link_capacity_.size();
  const std::vector<Bytes>& kv_bytes = kv_network_->link_bytes();
  kv_bytes_seen_.resize(links);
  std::vector<double> kv_share(links, 0);  // of each link, by the KV flows done since the last update
  for (std::size_t l = 0; l < links; ++l) {
    kv_share[l] = std::min(0.9, (kv_bytes[l] - kv_bytes_seen_[l]).count() / interval / link_capacity_[l]);
    kv_bytes_seen_[l] = kv_bytes[l];
  }
  std::vector<double> taken(links, 0);  // of each link, by the pools' all-to-all
  for (Pool& pool : pools_) {
    pool.cost->link_load(load_);
    PoolResult& pr = out_.pools[static_cast<std::size_t>(&pool - pools_.data())];
    // How busy the pool's simulated replica was: its all-to-all load applies that share of the time.
    const double duty = std::min(1.0, static_cast<double>(pr.busy_ps - pool.busy_seen_ps) / pool.spec.replicas / interval);
    pool.busy_seen_ps = pr.busy_ps;
    pool.kv_stretch = 0;
    for (std::size_t l = 0; l < links; ++l) {
      taken[l] += duty * load_.bytes_per_ps[l] / link_capacity_[l];
      pool.kv_stretch += load_.critical_share[l] * kv_share[l] / (1 - kv_share[l]);
    }
  }
  kv_network_->set_background_load(std::move(taken));
  contention_at_ps_ = now;
}

void ServingSimulation::sample() {
  if (kv_network_) update_contention();
  for (std::size_t p = 0; p < pools_.size(); ++p) {
    const Pool& pool = pools_[p];
    ServingSample s;
    s.time_ps = queue_.now_ps();
    s.pool = pool.role;
    double kv_sum = 0;
    for (int r = pool.first_rank; r < pool.first_rank + pool.ranks; ++r) {
      const RankScheduler& rank = ranks_[static_cast<std::size_t>(r)];
      s.waiting += rank.waiting();
      s.running += rank.running();
      const double f = static_cast<double>(rank.kv_used()) / static_cast<double>(rank.kv_capacity());
      kv_sum += f;
      s.kv_used_fraction_max = std::max(s.kv_used_fraction_max, f);
    }
    s.kv_used_fraction_mean = kv_sum / pool.ranks;
    s.batch_tokens = pool.last_tokens;
    s.step_ps = pool.last_step_ps;
    out_.timeline.push_back(s);
  }
  if (arrivals_done_ && outstanding_ == 0) return;
  queue_.schedule_in(sample_every_ps_, [this] { sample(); });
}

ServingResults ServingSimulation::run(const RunControl* control) {
  const auto wall_start = std::chrono::steady_clock::now();
  const ServingSpec& v = scenario_.serving;
  out_.window_ps = ps_from_us(v.duration_s * 1e6);
  incoming_.assign(ranks_.size(), 0);
  // About 400 samples over the arrival window, none finer than 1 ms.
  sample_every_ps_ = std::max<TimePs>(ps_from_us(1e3), out_.window_ps / 400);
  if (v.arrival == ArrivalKind::closed_loop) {
    // Each user's first request, staggered over one think time (all at 0 without one).
    for (int u = 0; u < v.users; ++u) {
      if (v.max_requests > 0 && u >= v.max_requests) break;
      const TimePs at = ps_from_us(v.think_s * 1e6 * u / v.users);
      if (at >= out_.window_ps) break;
      new_request(at, u);
    }
    for (std::size_t i = 0; i < out_.requests.size(); ++i)
      queue_.schedule(out_.requests[i].arrival_ps, [this, i] { arrive(static_cast<int>(i)); });
    queue_.schedule(out_.window_ps, [this] { arrivals_done_ = true; });
  } else {
    for (const Request& q : open_loop_requests(v, trace_, scenario_.seed)) {
      RequestRecord r;
      r.id = q.id;
      r.arrival_ps = q.arrival_ps;
      r.prompt_tokens = q.prompt_tokens;
      r.output_tokens = q.output_tokens;
      out_.requests.push_back(r);
    }
    // One pending arrival at a time keeps the event queue small.
    struct Next {
      ServingSimulation* self;
      std::size_t i;
      void operator()() const {
        self->arrive(static_cast<int>(i));
        if (i + 1 < self->out_.requests.size())
          self->queue_.schedule(self->out_.requests[i + 1].arrival_ps, Next{self, i + 1});
        else
          self->arrivals_done_ = true;
      }
    };
    if (out_.requests.empty())
      arrivals_done_ = true;
    else
      queue_.schedule(out_.requests.front().arrival_ps, Next{this, 0});
  }
  queue_.schedule(0, [this] { sample(); });
  // The run control is looked at every 16 events (one may be a full step simulation).
  for (std::uint64_t events = 1; queue_.step(); ++events) {
    if (!control || (events & 15) != 0) continue;
    if (control->interrupt && control->interrupt->load(std::memory_order_relaxed))
      out_.stopped = RunStop::interrupted;
    else if (RunControl::Clock::now() >= control->deadline)
      out_.stopped = RunStop::timeout;
    if (out_.stopped != RunStop::none) return out_;
  }
  if (outstanding_ > 0) {
    int waiting = 0, running = 0;
    for (const RankScheduler& r : ranks_) {
      waiting += r.waiting();
      running += r.running();
    }
    throw Error(fmt::format("{}: serving stalled at {:.3f} s with {} requests unfinished ({} queued, {} running)",
                            scenario_.file, static_cast<double>(queue_.now_ps()) * 1e-12, outstanding_, waiting,
                            running));
  }
  // The engine's figures before the memo check adds its own steps.
  out_.steps = pools_.back().cost->simulation().served_results();
  for (std::size_t p = 0; p < pools_.size(); ++p) {
    for (int r = pools_[p].first_rank; r < pools_[p].first_rank + pools_[p].ranks; ++r)
      out_.pools[p].kv_peak_tokens =
          std::max(out_.pools[p].kv_peak_tokens, ranks_[static_cast<std::size_t>(r)].kv_peak());
    pools_[p].cost->check();
    out_.memo.push_back(pools_[p].cost->result());
  }
  std::int64_t rejected = 0;
  for (const RequestRecord& r : out_.requests) rejected += r.rejected ? 1 : 0;
  if (rejected > 0)
    out_.notes.push_back(fmt::format("{} requests refused: prompt + output exceed one rank's KV cache", rejected));
  if (scenario_.kernel_jitter)
    out_.notes.push_back("hardware.kernel_jitter is off in serving runs: a memoised step cost stands for its shape");
  if (v.disaggregated)
    out_.notes.push_back(
        "disaggregated: each pool's first replica is simulated on its own GPUs (its other replicas assumed "
        "alike, their all-to-all not loading the KV flows' links); KV transfers and the all-to-all contend to "
        "first order, through their mean loads per sampling interval");
  out_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  out_.steps.wall_s = out_.wall_s;
  return out_;
}

}  // namespace moesim
