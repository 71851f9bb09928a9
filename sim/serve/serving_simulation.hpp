#pragma once
// Request-level serving: requests arrive, are routed to data-parallel attention ranks and batched
// continuously; each expert-parallel group (replica) runs steps back to back whose durations come
// from the step engine (StepCostModel) with the step's real batch composition. Disaggregated
// deployments run a prefill pool and a decode pool; a finished prompt's KV cache moves to its
// decode GPU as a flow on the topology (max-min shared with the other transfers in flight). Each
// pool's first replica is simulated on its own GPUs, so its all-to-all and the KV flows name the
// same links; they contend to first order: a KV flow gets what the pools' mean all-to-all load
// leaves on its route's most-loaded link, and a step's network segments bounded by a link stretch
// by 1 / (1 - the KV traffic's share of it over the last sampling interval).
#include <memory>
#include <vector>

#include "core/event_queue.hpp"
#include "gpu/profile.hpp"
#include "net/network.hpp"
#include "net/topology.hpp"
#include "serve/rank_scheduler.hpp"
#include "serve/request.hpp"
#include "serve/request_source.hpp"
#include "serve/serving_results.hpp"
#include "serve/step_cost.hpp"
#include "spec/scenario.hpp"

namespace moesim {

class ServingSimulation {
 public:
  // `trace`: the scenario's request trace, loaded by io/ (empty without one). The topology, profile
  // and placement must outlive the simulation. InputError / Infeasible when the deployment does
  // not fit the topology or leaves no HBM for the KV cache.
  ServingSimulation(const Scenario& scenario, const Topology& topology, const Profile& profile,
                    std::vector<Request> trace, const Placement* placement = nullptr);
  ~ServingSimulation();
  // `control` (may be null): a deadline or an interrupt stops the run (results.stopped says which;
  // nothing else in them is then complete).
  ServingResults run(const RunControl* control = nullptr);
  // The step cost model of a pool (0: colocated or prefill; 1: decode).
  const StepCostModel& cost_model(int pool) const { return *pools_[static_cast<std::size_t>(pool)].cost; }

 private:
  struct Pool {
    PoolRole role = PoolRole::colocated;
    PoolSpec spec;
    int first_gpu = 0;
    std::unique_ptr<Topology> frame;  // the topology numbered from first_gpu (null: from 0)
    std::unique_ptr<StepCostModel> cost;
    double kv_stretch = 0;  // a step's time added per ps by the KV traffic on its links
    TimePs busy_seen_ps = 0;
    int first_rank = 0, ranks = 0;  // in ranks_
    int next_rank = 0;              // round robin
    std::int64_t last_tokens = 0;
    TimePs last_step_ps = 0;
  };
  struct Replica {
    int pool = 0;
    int first_rank = 0;  // its ep ranks are ranks_[first_rank, first_rank + ep)
    bool busy = false;
  };
  void add_pool(PoolRole role, const PoolSpec& spec, int first_gpu, std::int64_t kv_bytes_per_token);
  int route(Pool& pool);
  void arrive(int record);
  void kick(int replica);
  void end_step(int replica);
  void transfer_kv(const LiveRequest& r, int prefill_rank);
  void sample();
  // Disaggregated: the pools' all-to-all load for the KV flows, and the KV load for the steps.
  void update_contention();
  void finish(int record);
  // Closed loop: a request of `user` arriving at `at`, with drawn lengths; its record index.
  int new_request(TimePs at, int user);
  RankScheduler::Events make_events(int rank);

  Scenario scenario_;
  const Topology& topology_;
  const Profile& profile_;
  const Placement* placement_;
  std::vector<Request> trace_;
  LengthSampler lengths_;  // closed loop: each new request's lengths
  EventQueue queue_;
  std::unique_ptr<Network> kv_network_;  // disaggregated only
  std::vector<Bytes> kv_bytes_seen_;     // its link bytes at the last update_contention
  TimePs contention_at_ps_ = 0;
  StepCostModel::LinkLoad load_;
  std::vector<double> link_capacity_;  // [link] bytes per ps
  std::vector<Pool> pools_;
  std::vector<RankScheduler> ranks_;
  std::vector<RankScheduler::Events> events_;  // [rank] what its finished steps do here
  std::vector<int> rank_replica_;              // [rank] its replica
  std::vector<int> incoming_;                  // [rank] requests whose KV cache is on its way there
  std::vector<Replica> replicas_;
  ServingResults out_;
  Rng rng_;
  int outstanding_ = 0;  // arrived, not finished or rejected
  bool arrivals_done_ = false;
  TimePs sample_every_ps_ = 0;
  std::vector<int> user_of_;  // closed loop: [record] its user
};

}  // namespace moesim
