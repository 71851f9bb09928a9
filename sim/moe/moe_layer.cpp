// MoE layer plan: turns gate choices and a placement into dispatch copies, per-slot tokens and
// expert loads, assuming the replica split in moe_layer.hpp and flat per-layer lookup tables.
#include "moe/moe_layer.hpp"

#include <algorithm>
#include <bit>
#include <memory>
#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace moesim {
namespace {

using Target = MoeLayerPlanner::Target;
using Quota = MoeLayerPlanner::Quota;

// Inputs of the hot loop for one source GPU, as raw pointers (no per-token allocation).
struct SrcPass {
  const int* ids;  // tokens * top_k expert ids
  std::int64_t tokens;
  int top_k;
  int src;
  int gpus;
  unsigned experts;
  const Target* single;  // this layer's row of single_
  int* head;             // replicated expert j's next quota for this source: head[j * gpus]
  Quota* quotas;
  std::int64_t* copies_row;  // copies[src * gpus ...]
  int* slot_counts;          // [Target::slot]: this layer's slots of all GPUs, GPU after GPU
  std::uint32_t* stamp;      // [gpu] == clock: this token already sent a copy there
  std::uint32_t* clock;
  const int* gpu_domain;            // with domain counting: [gpu] -> domain
  const std::uint64_t* domain_bit;  // [gpu] -> 1 << its domain (at most 64 domains)
  std::int64_t* mask_tally;         // Domains::histogram: [mask] tokens that reached those domains
  int domains;
  std::int64_t* domain_row;     // domain_copies[src * domains ...]
  std::uint32_t* domain_stamp;  // [domain] == clock: this token already counted there
};

// Domain counting: none; a per-token bit mask of the domains reached, tallied per mask value
// (at most kHistogramDomains domains) or bit by bit (at most 64); or stamps (more domains).
enum class Domains { none, histogram, mask, stamps };
constexpr int kHistogramDomains = 10;

template <bool Dedup, Domains Dom>
void plan_source(const SrcPass& p) {
  const int* ids = p.ids;
  std::uint32_t clock = *p.clock;
  for (std::int64_t t = 0; t < p.tokens; ++t) {
    ++clock;                    // a fresh stamp per token; stamps start at 0 and a call never sees 2^32 tokens
    std::uint64_t reached = 0;  // Domains::mask: the domains this token reaches
    for (int k = 0; k < p.top_k; ++k) {
      const int e = *ids++;
      if (static_cast<unsigned>(e) >= p.experts) {
        if (e == kDroppedPick) continue;  // over capacity: neither sent nor computed
        throw Error(fmt::format("moe layer: expert id {} out of range [0, {}) from GPU {}", e, p.experts, p.src));
      }
      Target target = p.single[e];
      if (target.gpu < 0) {            // replicated: this source's quotas, in turn (they cover its picks exactly)
        int& h = p.head[target.slot];  // slot = j * gpus
        Quota& q = p.quotas[h];
        target = q.target;
        q.n -= 1;
        h += q.n == 0 ? 1 : 0;  // branch-free: quotas are short, whether one ends is a coin toss
      }
      p.slot_counts[target.slot] += 1;
      if constexpr ((Dom == Domains::mask || Dom == Domains::histogram) && !Dedup) reached |= p.domain_bit[target.gpu];
      if constexpr (Dom == Domains::stamps) {  // branch-free: whether a domain was reached is a coin toss
        const int dom = p.gpu_domain[target.gpu];
        p.domain_row[dom] += p.domain_stamp[dom] != clock ? 1 : 0;
        p.domain_stamp[dom] = clock;
      }
      if constexpr (Dedup) {
        if (p.stamp[target.gpu] == clock) continue;
        p.stamp[target.gpu] = clock;
        if constexpr (Dom == Domains::mask || Dom == Domains::histogram)
          reached |= p.domain_bit[target.gpu];  // a GPU new to the token
      }
      p.copies_row[target.gpu] += 1;
    }
    if constexpr (Dom == Domains::mask)
      for (; reached != 0; reached &= reached - 1) p.domain_row[std::countr_zero(reached)] += 1;
    if constexpr (Dom == Domains::histogram) p.mask_tally[reached] += 1;
  }
  if constexpr (Dom == Domains::histogram)
    for (std::uint64_t m = 1; m < (std::uint64_t{1} << p.domains); ++m) {
      if (p.mask_tally[m] == 0) continue;
      for (std::uint64_t bits = m; bits != 0; bits &= bits - 1) p.domain_row[std::countr_zero(bits)] += p.mask_tally[m];
      p.mask_tally[m] = 0;
    }
  *p.clock = clock;
}

// GPUs grouped by id (host or domain), each group in GPU order: group i is
// members[first[i] .. first[i + 1]); of[gpu] = its group. Nothing for empty ids.
void group_by(const std::vector<int>& id, std::vector<int>& first, std::vector<int>& members, std::vector<int>& of) {
  if (id.empty()) return;
  members.resize(id.size());
  std::iota(members.begin(), members.end(), 0);
  std::stable_sort(members.begin(), members.end(),
                   [&](int a, int b) { return id[static_cast<std::size_t>(a)] < id[static_cast<std::size_t>(b)]; });
  of.resize(id.size());
  for (std::size_t x = 0; x < members.size(); ++x) {
    const auto gpu = static_cast<std::size_t>(members[x]);
    if (x == 0 || id[gpu] != id[static_cast<std::size_t>(members[x - 1])]) first.push_back(static_cast<int>(x));
    of[gpu] = static_cast<int>(first.size()) - 1;
  }
  first.push_back(static_cast<int>(members.size()));
}

}  // namespace

MoeLayerPlanner::MoeLayerPlanner(const Placement& placement, std::vector<int> gpu_host, bool dedup,
                                 std::vector<int> gpu_domain)
    : placement_(placement),
      gpu_host_(std::move(gpu_host)),
      dedup_(dedup),
      gpu_domain_(std::move(gpu_domain)),
      experts_(placement.experts()) {
  if (static_cast<int>(gpu_host_.size()) != placement_.gpus())
    throw Error(
        fmt::format("moe layer: {} GPU host ids for a placement over {} GPUs", gpu_host_.size(), placement_.gpus()));
  if (!gpu_domain_.empty()) {
    if (static_cast<int>(gpu_domain_.size()) != placement_.gpus())
      throw Error(fmt::format("moe layer: {} GPU domain ids for a placement over {} GPUs", gpu_domain_.size(),
                              placement_.gpus()));
    for (int d : gpu_domain_) {
      if (d < 0) throw Error(fmt::format("moe layer: negative NVLink domain id {}", d));
      domains_ = std::max(domains_, d + 1);
    }
    if (domains_ <= 64)
      for (int d : gpu_domain_) domain_bit_.push_back(std::uint64_t{1} << d);
  }
  const int gpus = placement_.gpus();
  group_by(gpu_host_, group_first_[0], group_gpus_[0], gpu_group_[0]);
  group_by(gpu_domain_, group_first_[1], group_gpus_[1], gpu_group_[1]);
  single_.resize(static_cast<std::size_t>(placement_.layers()) * static_cast<std::size_t>(experts_));
  slot_base_.resize(static_cast<std::size_t>(placement_.layers()) * static_cast<std::size_t>(gpus + 1));
  for (int l = 0; l < placement_.layers(); ++l) {
    rep_first_.push_back(static_cast<int>(rep_expert_.size()));
    int* const base = slot_base_.data() + static_cast<std::size_t>(l) * static_cast<std::size_t>(gpus + 1);
    base[0] = 0;
    for (int g = 0; g < gpus; ++g) base[g + 1] = base[g] + static_cast<int>(placement_.local_experts(l, g).size());
    const auto flat = [&](int gpu, int slot) { return Target{gpu, base[gpu] + slot}; };
    for (int e = 0; e < experts_; ++e) {
      const auto& reps = placement_.replicas(l, e);
      const auto& slots = placement_.replica_slots(l, e);
      Target& entry =
          single_[static_cast<std::size_t>(l) * static_cast<std::size_t>(experts_) + static_cast<std::size_t>(e)];
      if (reps.size() == 1) {
        entry = flat(reps[0], slots[0]);
        continue;
      }
      entry = {-1, (static_cast<int>(rep_expert_.size()) - rep_first_.back()) * gpus};
      rep_expert_.push_back(e);
      rr_first_.push_back(static_cast<int>(rr_.size()));
      for (std::size_t i = 0; i < reps.size(); ++i) rr_.push_back(flat(reps[i], slots[i]));
    }
  }
  rep_first_.push_back(static_cast<int>(rep_expert_.size()));
  rr_first_.push_back(static_cast<int>(rr_.size()));
}

void MoeLayerPlanner::pad(int moe_layer, const std::vector<std::int64_t>& pad_slots, int* slot_counts,
                          LayerTraffic& out) const {
  const int gpus = placement_.gpus();
  if (static_cast<int>(pad_slots.size()) != gpus)
    throw Error(fmt::format("moe layer: pad buffers for {} GPUs, placement has {}", pad_slots.size(), gpus));
  const auto g_count = static_cast<std::size_t>(gpus);
  const auto d_count = static_cast<std::size_t>(domains_);
  std::int64_t per_slot = 0;  // every slot computes each source's whole buffer
  for (std::size_t src = 0; src < g_count; ++src) {
    per_slot += pad_slots[src];
    std::fill_n(out.domain_copies.begin() + static_cast<std::ptrdiff_t>(src * d_count), d_count, 0);
    for (int dst = 0; dst < gpus; ++dst) {
      const auto n = static_cast<std::int64_t>(placement_.local_experts(moe_layer, dst).size()) * pad_slots[src];
      out.copies[src * g_count + static_cast<std::size_t>(dst)] = n;
      if (domains_ > 0)
        out.domain_copies[src * d_count + static_cast<std::size_t>(gpu_domain_[static_cast<std::size_t>(dst)])] += n;
    }
  }
  const int* const base = slot_base_.data() + static_cast<std::size_t>(moe_layer) * (g_count + 1);
  std::fill(slot_counts, slot_counts + base[gpus], static_cast<int>(per_slot));
}

void MoeLayerPlanner::split_replicas(int moe_layer, const std::vector<std::vector<int>>& experts_by_src,
                                     std::vector<int>& head, std::vector<Quota>& quotas) const {
  const auto g_count = static_cast<std::size_t>(placement_.gpus());
  const int m0 = rep_first_[static_cast<std::size_t>(moe_layer)];
  const auto reps_in_layer = static_cast<std::size_t>(rep_first_[static_cast<std::size_t>(moe_layer) + 1] - m0);
  // head first counts the picks of each (replicated expert j, source): head[j * gpus + src], from
  // a histogram of each source's picks over all experts (no branch on which expert a pick names,
  // no chain of increments on one counter). Ids out of range are left to plan(), which throws.
  head.resize(reps_in_layer * g_count);
  std::vector<int> histogram(static_cast<std::size_t>(experts_), 0);
  int* const hist = histogram.data();
  const int* const rep_expert = rep_expert_.data() + m0;
  for (std::size_t src = 0; src < g_count; ++src) {
    for (const int e : experts_by_src[src])
      if (static_cast<unsigned>(e) < static_cast<unsigned>(experts_)) ++hist[e];
    for (std::size_t j = 0; j < reps_in_layer; ++j) head[j * g_count + src] = hist[rep_expert[j]];
    std::fill(histogram.begin(), histogram.end(), 0);
  }

  struct Keyed {
    std::size_t key;  // j * gpus + src
    Quota quota;
  };
  std::vector<Keyed> raw;
  std::vector<int> cap;           // [replica] assignments it may still take
  std::vector<int> open;          // replicas (indices into reps) a tier fills
  std::vector<int> done;          // groups a tier has filled from
  std::vector<int> all(g_count);  // every GPU, the last tier's sources
  std::iota(all.begin(), all.end(), 0);
  for (std::size_t j = 0; j < reps_in_layer; ++j) {
    const auto m = static_cast<std::size_t>(m0) + j;
    const Target* const reps = rr_.data() + rr_first_[m];
    const int k = rr_first_[m + 1] - rr_first_[m];
    int* const left = head.data() + j * g_count;  // [src] picks not yet given a replica
    const std::int64_t total = std::accumulate(left, left + g_count, std::int64_t{0});
    if (total == 0) continue;
    const auto share = static_cast<int>(total / k), extra = static_cast<int>(total % k);
    const int rot = rep_expert_[m] % k;
    cap.resize(static_cast<std::size_t>(k));
    for (int i = 0; i < k; ++i) cap[static_cast<std::size_t>(i)] = share + ((i - rot + k) % k < extra ? 1 : 0);
    const auto give = [&](int src, int i, int want) {
      int& from = left[src];
      int& to = cap[static_cast<std::size_t>(i)];
      const int n = std::min({want, from, to});
      if (n == 0) return;
      raw.push_back({j * g_count + static_cast<std::size_t>(src), {reps[i], n}});
      from -= n;
      to -= n;
    };
    // Each source's picks spread evenly over the replicas in `open` (odd ones in turn), a full
    // replica dropping out: one source's tokens do not pile onto one replica (or one route).
    const auto spread = [&](const int* src, const int* src_end) {
      std::size_t turn = static_cast<std::size_t>(rep_expert_[m]) % std::max<std::size_t>(open.size(), 1);
      for (; src != src_end && !open.empty(); ++src)
        while (left[*src] > 0 && !open.empty()) {
          const int a = static_cast<int>(open.size()), q = left[*src] / a, r = left[*src] % a;
          bool full = false;
          for (int x = 0; x < a; ++x) {
            const int i = open[turn];
            give(*src, i, q + (x < r ? 1 : 0));
            full |= cap[static_cast<std::size_t>(i)] == 0;
            turn = turn + 1 == open.size() ? 0 : turn + 1;
          }
          turn = (turn + static_cast<std::size_t>(r)) % open.size();  // the next source's odd picks start further on
          if (full) {
            std::erase_if(open, [&](int i) { return cap[static_cast<std::size_t>(i)] == 0; });
            turn = open.empty() ? 0 : turn % open.size();
          }
        }
    };
    for (int i = 0; i < k; ++i) give(reps[i].gpu, i, left[reps[i].gpu]);  // own GPU
    for (int kind = 0; kind < 2; ++kind) {                                // host, then NVLink domain
      if (group_first_[kind].empty()) continue;
      const auto group_of = [&](int i) { return gpu_group_[kind][static_cast<std::size_t>(reps[i].gpu)]; };
      done.clear();
      for (int i = 0; i < k; ++i) {
        const int group = group_of(i);
        if (cap[static_cast<std::size_t>(i)] == 0 || std::find(done.begin(), done.end(), group) != done.end()) continue;
        done.push_back(group);
        open.clear();
        for (int x = i; x < k; ++x)
          if (cap[static_cast<std::size_t>(x)] > 0 && group_of(x) == group) open.push_back(x);
        const int* const members = group_gpus_[kind].data();
        spread(members + group_first_[kind][static_cast<std::size_t>(group)],
               members + group_first_[kind][static_cast<std::size_t>(group) + 1]);
      }
    }
    // The rest anywhere; the quotas sum to the picks, so this places every pick.
    open.clear();
    for (int i = 0; i < k; ++i)
      if (cap[static_cast<std::size_t>(i)] > 0) open.push_back(i);
    spread(all.data(), all.data() + all.size());
  }
  // Bucket the quotas by key (head is all zeros again): count, prefix sums to bucket ends, then
  // fill each bucket from its end, leaving head at its start.
  for (const Keyed& r : raw) ++head[r.key];
  std::partial_sum(head.begin(), head.end(), head.begin());
  quotas.resize(raw.size());
  for (const Keyed& r : raw) quotas[static_cast<std::size_t>(--head[r.key])] = r.quota;
}

void MoeLayerPlanner::plan(int moe_layer, const std::vector<std::vector<int>>& experts_by_src, int top_k,
                           LayerTraffic& out, const std::vector<std::int64_t>* pad_slots) const {
  const int gpus = placement_.gpus();
  if (moe_layer < 0 || moe_layer >= placement_.layers())
    throw Error(fmt::format("moe layer: layer {} out of range [0, {})", moe_layer, placement_.layers()));
  if (static_cast<int>(experts_by_src.size()) != gpus)
    throw Error(fmt::format("moe layer: gate output for {} GPUs, placement has {}", experts_by_src.size(), gpus));
  if (top_k < 1) throw Error(fmt::format("moe layer: top_k must be >= 1, got {}", top_k));
  const auto g_count = static_cast<std::size_t>(gpus);

  out.gpus = gpus;
  out.copies.assign(g_count * g_count, 0);
  out.slot_tokens.resize(g_count);
  out.received.assign(g_count, 0);
  out.expert_load.assign(static_cast<std::size_t>(experts_), 0);
  // One allocation per call for each scratch, none per token. The slots of all GPUs count in
  // one flat array (one indexing per assignment, not two), copied out at the end.
  const int* const base = slot_base_.data() + static_cast<std::size_t>(moe_layer) * (g_count + 1);
  auto slot_counts = std::make_unique<int[]>(static_cast<std::size_t>(base[gpus]));  // zeroed
  auto stamp = std::make_unique<std::uint32_t[]>(g_count);                           // zeroed
  const auto d_count = static_cast<std::size_t>(domains_);
  out.domains = domains_;
  out.domain_copies.assign(g_count * d_count, 0);
  auto domain_stamp = std::make_unique<std::uint32_t[]>(d_count);  // zeroed
  auto mask_tally =
      std::make_unique<std::int64_t[]>(domains_ <= kHistogramDomains ? std::size_t{1} << domains_ : 0);  // zeroed
  std::vector<int> head;
  std::vector<Quota> quotas;
  if (rep_first_[static_cast<std::size_t>(moe_layer) + 1] > rep_first_[static_cast<std::size_t>(moe_layer)])
    split_replicas(moe_layer, experts_by_src, head, quotas);

  std::uint32_t clock = 0;
  for (int g = 0; g < gpus; ++g) {
    const auto& ids = experts_by_src[static_cast<std::size_t>(g)];
    if (ids.size() % static_cast<std::size_t>(top_k) != 0)
      throw Error(
          fmt::format("moe layer: GPU {} has {} expert ids, not a multiple of top_k = {}", g, ids.size(), top_k));
    const SrcPass pass{ids.data(),
                       static_cast<std::int64_t>(ids.size() / static_cast<std::size_t>(top_k)),
                       top_k,
                       g,
                       gpus,
                       static_cast<unsigned>(experts_),
                       single_.data() + static_cast<std::size_t>(moe_layer) * static_cast<std::size_t>(experts_),
                       head.empty() ? nullptr : head.data() + static_cast<std::size_t>(g),
                       quotas.data(),
                       out.copies.data() + static_cast<std::size_t>(g) * g_count,
                       slot_counts.get(),
                       stamp.get(),
                       &clock,
                       gpu_domain_.data(),
                       domain_bit_.data(),
                       mask_tally.get(),
                       domains_,
                       out.domain_copies.data() + static_cast<std::size_t>(g) * d_count,
                       domain_stamp.get()};
    if (domains_ > 0)
      if (domains_ <= kHistogramDomains)
        dedup_ ? plan_source<true, Domains::histogram>(pass) : plan_source<false, Domains::histogram>(pass);
      else if (domains_ <= 64)
        dedup_ ? plan_source<true, Domains::mask>(pass) : plan_source<false, Domains::mask>(pass);
      else
        dedup_ ? plan_source<true, Domains::stamps>(pass) : plan_source<false, Domains::stamps>(pass);
    else
      dedup_ ? plan_source<true, Domains::none>(pass) : plan_source<false, Domains::none>(pass);
  }

  if (pad_slots) pad(moe_layer, *pad_slots, slot_counts.get(), out);
  // Totals from the slot counts: cheaper than two more increments per assignment.
  for (std::size_t g = 0; g < g_count; ++g) {
    out.slot_tokens[g].assign(slot_counts.get() + base[g], slot_counts.get() + base[g + 1]);
    for (int n : out.slot_tokens[g]) out.received[g] += n;
  }
  for (int e = 0; e < experts_; ++e) {
    const auto& reps = placement_.replicas(moe_layer, e);
    const auto& slots = placement_.replica_slots(moe_layer, e);
    std::int64_t load = 0;
    for (std::size_t i = 0; i < reps.size(); ++i)
      load += out.slot_tokens[static_cast<std::size_t>(reps[i])][static_cast<std::size_t>(slots[i])];
    out.expert_load[static_cast<std::size_t>(e)] = load;
  }
}

}  // namespace moesim
