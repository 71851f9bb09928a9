// Collective plans per EP mode (see collective_plan.hpp).
#include "comm/collective_plan.hpp"

#include "core/error.hpp"

namespace moesim {

namespace {

void begin(CollectivePlan& out, int gpus, bool csr) {
  const auto g = static_cast<std::size_t>(gpus);
  out.flows.clear();
  out.sender_first.assign(g + 1, 0);
  out.waiter_first.clear();
  if (csr) out.waiter_first.push_back(0);
  out.waiters.clear();
  out.local_bytes.assign(g, 0);
  out.awaited.assign(g, 0);
  out.out_bytes.assign(g, 0);
  out.in_bytes.assign(g, 0);
}

void add_flow(CollectivePlan& out, int src, int dst, std::int64_t copies, double bytes_per_copy, bool count_messages) {
  const double bytes = static_cast<double>(copies) * bytes_per_copy;
  out.flows.push_back(FlowDecl{src, dst, Bytes(bytes), count_messages ? copies : 0});
  out.out_bytes[static_cast<std::size_t>(src)] += bytes;
  out.in_bytes[static_cast<std::size_t>(dst)] += bytes;
  if (out.waiter_first.empty()) ++out.awaited[static_cast<std::size_t>(dst)];
}

void add_waiter(CollectivePlan& out, int gpu) {
  out.waiters.push_back(gpu);
  ++out.awaited[static_cast<std::size_t>(gpu)];
}

void close_flow(CollectivePlan& out) { out.waiter_first.push_back(static_cast<std::int32_t>(out.waiters.size())); }

void finish(CollectivePlan& out) {
  out.sender_first.back() = static_cast<std::int32_t>(out.flows.size());
  for (std::size_t g = 0; g < out.local_bytes.size(); ++g)
    if (out.local_bytes[g] > 0) ++out.awaited[g];
}

void plan_flat(bool combine, const LayerTraffic& t, double b, bool messages, CollectivePlan& out) {
  const int gpus = t.gpus;
  for (int s = 0; s < gpus; ++s) {
    out.sender_first[static_cast<std::size_t>(s)] = static_cast<std::int32_t>(out.flows.size());
    for (int d = 0; d < gpus; ++d) {
      // dispatch: s sends d its tokens; combine: s (the expert GPU) returns d's results
      const std::int64_t n = combine ? t.copies_from(d, s) : t.copies_from(s, d);
      if (n == 0) continue;
      if (d == s)
        out.local_bytes[static_cast<std::size_t>(s)] += static_cast<double>(n) * b;
      else
        add_flow(out, s, d, n, b, messages);
    }
  }
}

// Hierarchical: see the header. relay[g * L + lr] = copies that GPU g relays for (dispatch) or
// from (combine) the member with local rank lr of its domain, on behalf of remote sources.
void plan_hierarchical(bool combine, const EpLayout& layout, const LayerTraffic& t, double b, CollectivePlan& out) {
  const int gpus = t.gpus;
  if (t.domains != layout.domains()) throw Error("collective plan: hierarchical traffic needs per-domain counts");
  const auto L = static_cast<std::size_t>(layout.max_domain_size());
  std::vector<std::int64_t> relay(static_cast<std::size_t>(gpus) * L, 0);
  std::vector<std::vector<int>> proxied(static_cast<std::size_t>(gpus));  // [proxy] remote sources it serves
  std::vector<std::vector<int>> partials;  // combine: [d * L + lr(p)] remote sources whose partials d sends p
  if (combine) partials.resize(static_cast<std::size_t>(gpus) * L);
  for (int s = 0; s < gpus; ++s) {
    for (int B = 0; B < layout.domains(); ++B) {
      if (B == layout.domain(s) || t.domain_copies_from(s, B) == 0) continue;
      const int p = layout.proxy(s, B);
      if (p < 0) throw Error("collective plan: tokens for an NVLink domain with no live GPU");
      proxied[static_cast<std::size_t>(p)].push_back(s);
      for (int d : layout.members(B)) {
        const std::int64_t n = t.copies_from(s, d);
        if (n == 0) continue;
        if (!combine) {
          relay[static_cast<std::size_t>(p) * L + static_cast<std::size_t>(layout.local_rank(d))] += n;
        } else {
          const std::size_t k = static_cast<std::size_t>(d) * L + static_cast<std::size_t>(layout.local_rank(p));
          relay[k] += n;
          partials[k].push_back(s);
        }
      }
    }
  }
  for (int g = 0; g < gpus; ++g) {
    const auto gi = static_cast<std::size_t>(g);
    out.sender_first[gi] = static_cast<std::int32_t>(out.flows.size());
    const int A = layout.domain(g);
    out.local_bytes[gi] += static_cast<double>(t.copies_from(g, g)) * b;
    // NVLink inside the domain: g's own copies plus what it relays.
    for (int peer : layout.members(A)) {
      if (peer == g) continue;
      const std::int64_t own = combine ? t.copies_from(peer, g) : t.copies_from(g, peer);
      const std::size_t k = gi * L + static_cast<std::size_t>(layout.local_rank(peer));
      const std::int64_t n = own + relay[k];
      if (n == 0) continue;
      add_flow(out, g, peer, n, b, true);
      if (!combine || own > 0) add_waiter(out, peer);
      if (combine)  // the remote sources wait for their partials to reach their relay
        for (int s : partials[k]) add_waiter(out, s);
      close_flow(out);
    }
    // RDMA across domains: dispatch sends each remote domain's relay the tokens it needs;
    // combine returns each remote source it relays for one reduced result per token.
    if (!combine) {
      for (int B = 0; B < layout.domains(); ++B) {
        const std::int64_t n = B == A ? 0 : t.domain_copies_from(g, B);
        if (n == 0) continue;
        add_flow(out, g, layout.proxy(g, B), n, b, true);
        for (int d : layout.members(B))
          if (t.copies_from(g, d) > 0) add_waiter(out, d);
        close_flow(out);
      }
    } else {
      for (int s : proxied[gi]) {
        add_flow(out, g, s, t.domain_copies_from(s, A), b, true);
        add_waiter(out, s);
        close_flow(out);
      }
    }
  }
}

}  // namespace

bool mode_dedups(EpMode mode, bool dedup) {
  switch (mode) {
    case EpMode::nccl:
      return dedup;
    case EpMode::low_latency:
      return false;
    case EpMode::hierarchical:
    case EpMode::one_sided:
      return true;
  }
  return dedup;
}

void plan_collective(EpMode mode, bool combine, const EpLayout& layout, const LayerTraffic& traffic,
                     double bytes_per_copy, CollectivePlan& out) {
  if (traffic.gpus != layout.gpus()) throw Error("collective plan: traffic and layout disagree on the GPU count");
  const bool hierarchical = mode == EpMode::hierarchical && layout.spans_scaleout();
  begin(out, traffic.gpus, hierarchical);
  if (hierarchical)
    plan_hierarchical(combine, layout, traffic, bytes_per_copy, out);
  else
    plan_flat(combine, traffic, bytes_per_copy, mode != EpMode::nccl, out);
  finish(out);
  out.efficiency_size.clear();
  if (mode == EpMode::nccl)
    for (std::size_t g = 0; g < out.out_bytes.size(); ++g)
      out.efficiency_size.push_back(out.out_bytes[g] + out.local_bytes[g]);
}

}  // namespace moesim
