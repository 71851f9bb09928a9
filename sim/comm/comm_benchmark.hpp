#pragma once
// A communication-only benchmark, as DeepEP's and nccl-tests' are: one dispatch and one combine of
// one MoE layer's tokens over an EP group, every GPU starting at once, no expert compute between.
// Each GPU's kernel time runs from the start to the landing of everything it waits for (and its
// kernel's fixed cost and SM copy time); combine adds the reduction of what landed (streamed
// once through HBM), as the published kernels' combine times include it. Bandwidths follow each
// library's own definition.
#include <cstdint>
#include <string>
#include <vector>

#include "comm/ep_kernel.hpp"
#include "core/units.hpp"
#include "gpu/profile.hpp"
#include "net/topology.hpp"
#include "spec/gate_spec.hpp"
#include "spec/settings.hpp"

namespace moesim {

struct CommBenchSpec {
  int ep = 8;        // GPUs [0, ep) of the topology
  int tokens = 128;  // per GPU
  int top_k = 8;
  int experts = 256;          // routed experts, placed contiguously (experts / ep per GPU)
  double dispatch_bytes = 0;  // one token copy in dispatch (hidden x element size, plus scales)
  double combine_bytes = 0;   // one result in combine
  GateSpec gate;              // routing, when neither dense nor a trace
  bool dense = false;         // nccl-tests all-to-all: token t of a GPU goes to GPU (t mod ep), top_k 1
  std::string trace_path;     // routing from a trace's first step and first MoE layer ("" = none)
  std::uint64_t seed = 1;
  NetworkModelKind network = NetworkModelKind::analytic;
};

struct CommPhaseResult {
  std::vector<TimePs> done_ps;  // per GPU: its kernel time
  TimePs max_ps = 0;
  double mean_us = 0;
  double max_us() const { return us_from_ps(max_ps); }
};

struct CommBenchResult {
  EpMode mode = EpMode::nccl;
  int domains = 0;
  CommPhaseResult dispatch;
  CommPhaseResult combine;
  // Per-GPU means of what each library's bandwidth counts (multiply by the bytes of one copy):
  double tokens = 0;          // tokens each GPU dispatches ("logical")
  double recv_copies = 0;     // (token, GPU) copies each GPU receives, its own included (DeepEP NVL)
  double domain_copies = 0;   // (token, NVLink domain) pairs each GPU sends, its own domain included
                              // (DeepEP RDMA, Hybrid-EP IB)
  double pair_copies = 0;     // (token, expert) messages each GPU sends (DeepEP low-latency, pplx)
  double send_copies = 0;     // copies each GPU sends under the kernel's mode, its own included (NCCL S)
  double scaleout_bytes = 0;  // bytes each GPU's dispatch sends across NVLink domains (its NIC)
  double dispatch_bytes = 0;
  double combine_bytes = 0;
  int ep = 0;
  std::uint64_t flows = 0;  // network flows over both phases
};

// InputError for a spec that does not fit (EP larger than the topology, experts not a multiple of
// EP, top_k outside [1, experts], non-positive sizes, a one_sided kernel across domains).
CommBenchResult run_comm_benchmark(const Topology& topology, const Profile& profile, const EpKernel& kernel,
                                   const CommBenchSpec& spec);

// The figures a benchmark run gives, by name (what published-figure files compare):
//   dispatch_us, combine_us: kernel time, mean over GPUs; dispatch_max_us, combine_max_us: slowest;
//   <phase>_nvl_GBps: received (token, GPU) copies / time (DeepEP NVL; Hybrid-EP NVLink);
//   <phase>_rdma_GBps: (token, domain) pairs, own domain included / time (DeepEP RDMA; Hybrid-EP IB);
//   <phase>_ll_GBps: (token, expert) messages / time (DeepEP low-latency, pplx);
//   <phase>_logical_GBps: tokens dispatched / time;
//   alltoall_algbw_GBps, alltoall_busbw_GBps: nccl-tests' S / time and S / time * (n - 1) / n of
//   the dispatch, S = the bytes a GPU sends, its own share included;
//   dispatch_scaleout_GBps: bytes a GPU sends to other NVLink domains / time (per NIC).
// Bandwidths are per GPU; time is the mean kernel time.
std::vector<std::string> comm_metric_names();
double comm_metric(const CommBenchResult& r, const std::string& name);  // Error for an unknown name

// Bandwidth in GB/s of `copies` copies of `bytes_per_copy` each over `us` microseconds.
inline double comm_GBps(double copies, double bytes_per_copy, double us) {
  return us > 0 ? copies * bytes_per_copy / (us * 1e3) : 0;
}

}  // namespace moesim
