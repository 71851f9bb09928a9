// Analytic (per-link processor-sharing) network model (see analytic_network.hpp).
#include "net/analytic_network.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace moesim {

AnalyticNetwork::AnalyticNetwork(EventQueue& queue, const Topology& topology, MessageCost cost)
    : Network(queue, topology, std::move(cost)),
      busy_(static_cast<std::size_t>(topology.link_count())),
      windows_(static_cast<std::size_t>(topology.link_count())) {}

// The collective's flow positions in increasing effective size (ties in position order). A
// collective repeats a few sizes (they follow token counts), so the distinct sizes are found with
// a hash table, sorted among themselves, and the flows then placed by a counting sort on their
// size's rank: two passes over the flows instead of a sort of all of them.
const std::vector<std::uint32_t>& AnalyticNetwork::sorted_by_size(std::int64_t first_id, std::size_t count) {
  std::size_t size = 64;
  while (size < 2 * count) size *= 2;
  if (table_.size() < size || ++table_gen_ == 0) {  // (a wrapped generation would match old slots)
    table_.assign(std::max(size, table_.size()), Slot{0, 0, 0});
    table_gen_ = 1;
  }
  const std::size_t mask = table_.size() - 1;
  const int shift = 64 - std::countr_zero(table_.size());
  distinct_.clear();
  distinct_of_.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto bits = std::bit_cast<std::uint64_t>(info(first_id + static_cast<std::int64_t>(i)).eff_bytes);
    std::size_t h = static_cast<std::size_t>((bits * 0x9E3779B97F4A7C15ULL) >> shift);
    while (table_[h].gen == table_gen_ && table_[h].bits != bits) h = (h + 1) & mask;
    Slot& slot = table_[h];
    if (slot.gen != table_gen_) {
      slot = Slot{bits, table_gen_, static_cast<std::uint32_t>(distinct_.size())};
      distinct_.push_back(Distinct{bits, 0});
    }
    ++distinct_[slot.id].count;
    distinct_of_[i] = slot.id;
  }
  // Sizes are positive doubles, which order like their bit patterns.
  order_.resize(distinct_.size());
  for (std::uint32_t d = 0; d < order_.size(); ++d) order_[d] = d;
  std::sort(order_.begin(), order_.end(),
            [&](std::uint32_t a, std::uint32_t b) { return distinct_[a].bits < distinct_[b].bits; });
  // Each distinct size's first place in the output, then the flows in position order.
  std::uint32_t at = 0;
  for (std::uint32_t d : order_) {
    const std::uint32_t n = distinct_[d].count;
    distinct_[d].count = at;
    at += n;
  }
  sorted_.resize(count);
  for (std::size_t i = 0; i < count; ++i) sorted_[distinct_[distinct_of_[i]].count++] = static_cast<std::uint32_t>(i);
  return sorted_;
}

void AnalyticNetwork::on_declared(const Declaration& decl) {
  const std::int64_t first_id = decl.first_id;
  const std::size_t count = decl.flows.size();
  duration_ps_.resize(index(first_id) + count, 0);

  // Bucket the flows' link uses by link (counting sort), each link's flows in increasing size:
  // a flow's finish on a link under processor sharing is
  // (bytes of all smaller flows + its bytes x flows not smaller) / bandwidth.
  const auto links = static_cast<std::size_t>(topology_.link_count());
  link_start_.assign(links + 1, 0);
  // Every declared flow will run, so its bytes go on its links now (one pass, in order).
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t id = first_id + static_cast<std::int64_t>(i);
    const Bytes bytes = flow_bytes(id);
    for (int l : path_of(id)) {
      ++link_start_[static_cast<std::size_t>(l) + 1];
      link_bytes_[static_cast<std::size_t>(l)] += bytes;
    }
  }
  for (std::size_t l = 0; l < links; ++l) link_start_[l + 1] += link_start_[l];
  uses_.resize(link_start_[links]);
  cursor_.assign(link_start_.begin(), link_start_.end() - 1);
  // Filling the buckets in increasing size leaves each link's flows sorted by size.
  for (const std::uint32_t k : sorted_by_size(first_id, count)) {
    const std::int64_t id = first_id + static_cast<std::int64_t>(k);
    const double bytes = info(id).eff_bytes;
    for (int l : path_of(id)) uses_[cursor_[static_cast<std::size_t>(l)]++] = Use{bytes, id};
  }
  for (std::size_t l = 0; l < links; ++l) {
    const std::size_t i = link_start_[l], j = link_start_[l + 1];
    if (i == j) continue;
    const Bandwidth bw = topology_.link(static_cast<int>(l)).bandwidth;
    double smaller = 0;
    for (std::size_t k = i; k < j; ++k) {
      const double finish_bytes = smaller + uses_[k].bytes * static_cast<double>(j - k);
      const TimePs t = transfer_ps(Bytes(finish_bytes), bw);
      auto& d = duration_ps_[index(uses_[k].flow)];
      if (t > d) {  // the slowest link so far bounds it
        d = t;
        set_bottleneck(uses_[k].flow, static_cast<std::int32_t>(l));
      }
      smaller += uses_[k].bytes;
    }
  }
}

void AnalyticNetwork::start(std::int64_t flow_id, std::uint64_t tag) {
  ++completed_;  // its bytes were put on its links when it was declared
  const TimePs now = queue_.now_ps(), duration = duration_ps_[index(flow_id)];
  const Declared& d = info(flow_id);
  if (record_activity_) {
    if (now >= settle_at_) {
      windows_.settle(now);
      settle_at_ = (now / kActivityWindowPs + 1) * kActivityWindowPs;
    }
    for (int l : path_of(flow_id)) {
      LinkBusy& b = busy_[static_cast<std::size_t>(l)];
      if (now > b.end) {
        b.busy_ps += b.end - b.begin;
        b.begin = now;
      }
      b.end = std::max(b.end, now + duration);
      windows_.add(static_cast<std::size_t>(l), now, now + duration, d.eff_bytes);
    }
  }
  deliver(flow_id, tag, now + duration + latency_ps(d));
}

}  // namespace moesim
