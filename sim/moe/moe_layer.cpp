// MoE layer plan: turns gate choices and a placement into dispatch copies, per-slot tokens and
// expert loads, assuming the replica rule in moe_layer.hpp and flat per-layer lookup tables.
#include "moe/moe_layer.hpp"

#include <algorithm>
#include <bit>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace moesim {
namespace {

using Target = MoeLayerPlanner::Target;

// Inputs of the hot loop for one source GPU, as raw pointers (no per-token allocation).
struct SrcPass {
  const int* ids;  // tokens * top_k expert ids
  std::int64_t tokens;
  int top_k;
  int src;
  int gpus;
  unsigned experts;
  const Target* single;  // this layer's row of single_
  const Target* by_src;  // by_src_ (all layers)
  const Target* rr;
  const int* rr_first;  // per replicated index
  const int* rr_count;
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
      if (target.gpu < 0) {  // replicated: rule 1/2 precomputed per source, else round robin
        const int m = target.slot;
        target =
            p.by_src[static_cast<std::size_t>(m) * static_cast<std::size_t>(p.gpus) + static_cast<std::size_t>(p.src)];
        if (target.gpu < 0) {
          const auto i = static_cast<int>((t + e) % p.rr_count[m]);
          target = p.rr[p.rr_first[m] + i];
        }
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
  single_.resize(static_cast<std::size_t>(placement_.layers()) * static_cast<std::size_t>(experts_));
  slot_base_.resize(static_cast<std::size_t>(placement_.layers()) * static_cast<std::size_t>(gpus + 1));
  for (int l = 0; l < placement_.layers(); ++l) {
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
      const int m = static_cast<int>(rr_first_.size());
      entry = {-1, m};
      rr_first_.push_back(static_cast<int>(rr_.size()));
      rr_count_.push_back(static_cast<int>(reps.size()));
      for (std::size_t i = 0; i < reps.size(); ++i) rr_.push_back(flat(reps[i], slots[i]));
      for (int g = 0; g < gpus; ++g) {
        const int d = fixed_replica(l, e, g);
        by_src_.push_back(d < 0 ? Target{-1, 0} : flat(d, placement_.slot(l, e, d)));
      }
    }
  }
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

int MoeLayerPlanner::fixed_replica(int layer, int expert, int src_gpu) const {
  const auto& reps = placement_.replicas(layer, expert);
  if (std::find(reps.begin(), reps.end(), src_gpu) != reps.end()) return src_gpu;
  const int host = gpu_host_[static_cast<std::size_t>(src_gpu)];
  for (int d : reps)
    if (gpu_host_[static_cast<std::size_t>(d)] == host) return d;
  return -1;
}

int MoeLayerPlanner::pick_replica(int layer, int expert, int src_gpu, std::int64_t token) const {
  const int d = fixed_replica(layer, expert, src_gpu);
  if (d >= 0) return d;
  const auto& reps = placement_.replicas(layer, expert);
  return reps[static_cast<std::size_t>((token + expert) % static_cast<std::int64_t>(reps.size()))];
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
                       by_src_.data(),
                       rr_.data(),
                       rr_first_.data(),
                       rr_count_.data(),
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
