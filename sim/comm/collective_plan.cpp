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

// PXN (see the header): per sender x, NVLink flows to its domain peers (its own copies for them
// plus those it relays through them), then, as a relay, one RDMA flow per remote GPU on its rail.
void plan_pxn(bool combine, const EpLayout& layout, const LayerTraffic& t, double b, CollectivePlan& out) {
  const int gpus = t.gpus;
  // copies(x -> y) of this direction: dispatch sends x's tokens to y, combine returns them.
  const auto n = [&](int x, int y) { return combine ? t.copies_from(y, x) : t.copies_from(x, y); };
  const auto L = static_cast<std::size_t>(layout.max_domain_size());
  std::vector<std::int64_t> via(L);        // [local rank of the relay] copies x sends through it
  std::vector<std::int32_t> first(L + 1);  // remote GPUs x reaches through relay r: for_y[first[r]..]
  std::vector<int> for_y;
  std::vector<int> relay_of(static_cast<std::size_t>(gpus));
  for (int x = 0; x < gpus; ++x) {
    const auto xi = static_cast<std::size_t>(x);
    out.sender_first[xi] = static_cast<std::int32_t>(out.flows.size());
    const int A = layout.domain(x);
    out.local_bytes[xi] += static_cast<double>(n(x, x)) * b;
    std::fill(via.begin(), via.end(), 0);
    std::fill(first.begin(), first.end(), 0);
    for (int y = 0; y < gpus; ++y) {  // relays, counted per relay (counting sort of the y's)
      int& p = relay_of[static_cast<std::size_t>(y)];
      p = layout.domain(y) == A || n(x, y) == 0 ? -1 : layout.proxy(y, A);
      if (p < 0 || p == x) continue;  // x is on y's rail itself: its own RDMA flow below
      const auto r = static_cast<std::size_t>(layout.local_rank(p));
      via[r] += n(x, y);
      ++first[r + 1];
    }
    for (std::size_t r = 0; r < L; ++r) first[r + 1] += first[r];
    for_y.resize(static_cast<std::size_t>(first[L]));
    std::vector<std::int32_t> fill(first.begin(), first.end() - 1);
    for (int y = 0; y < gpus; ++y) {
      const int p = relay_of[static_cast<std::size_t>(y)];
      if (p >= 0 && p != x) for_y[static_cast<std::size_t>(fill[static_cast<std::size_t>(layout.local_rank(p))]++)] = y;
    }
    for (int p : layout.members(A)) {
      if (p == x) continue;
      const auto r = static_cast<std::size_t>(layout.local_rank(p));
      const std::int64_t own = n(x, p);
      if (own + via[r] == 0) continue;
      add_flow(out, x, p, own + via[r], b, false);
      if (own > 0) add_waiter(out, p);
      for (std::int32_t i = first[r]; i < first[r + 1]; ++i) add_waiter(out, for_y[static_cast<std::size_t>(i)]);
      close_flow(out);
    }
    // As a relay: every copy its domain has for a remote GPU on its rail.
    for (int y = 0; y < gpus; ++y) {
      if (layout.domain(y) == A || layout.proxy(y, A) != x) continue;
      std::int64_t total = 0;
      for (int w : layout.members(A)) total += n(w, y);
      if (total == 0) continue;
      add_flow(out, x, y, total, b, false);
      add_waiter(out, y);
      close_flow(out);
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
                     double bytes_per_copy, CollectivePlan& out, bool pxn) {
  if (traffic.gpus != layout.gpus()) throw Error("collective plan: traffic and layout disagree on the GPU count");
  const bool hierarchical = mode == EpMode::hierarchical && layout.spans_scaleout();
  const bool relayed = pxn && mode == EpMode::nccl && layout.spans_scaleout();
  begin(out, traffic.gpus, hierarchical || relayed);
  if (hierarchical)
    plan_hierarchical(combine, layout, traffic, bytes_per_copy, out);
  else if (relayed)
    plan_pxn(combine, layout, traffic, bytes_per_copy, out);
  else
    plan_flat(combine, traffic, bytes_per_copy, mode != EpMode::nccl, out);
  finish(out);
  out.efficiency_size.clear();
  if (mode == EpMode::nccl)
    for (std::size_t g = 0; g < out.out_bytes.size(); ++g)
      out.efficiency_size.push_back(out.out_bytes[g] + out.local_bytes[g]);
}

}  // namespace moesim
