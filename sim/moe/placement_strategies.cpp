// Placement strategies: greedy load balancing, DeepSeek EPLB redundant experts and co-selection
// clustering; every choice is deterministic (ties go to the lower expert, GPU or domain id).
#include "moe/placement_strategies.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"

namespace moesim {

namespace {

using Layer = std::vector<std::vector<int>>;  // [expert] -> GPUs
using Ids = std::vector<int>;
std::size_t at(int i) { return static_cast<std::size_t>(i); }

// ---- inputs ----------------------------------------------------------------------------------

void check_inputs(std::string_view kind, const PlacementInputs& in, bool need_load) {
  const auto fail = [&](const std::string& what) { throw InputError(fmt::format("placement {}: {}", kind, what)); };
  if (in.moe_layers < 1) fail(fmt::format("MoE layers must be >= 1, got {}", in.moe_layers));
  if (in.experts < 1) fail(fmt::format("experts must be >= 1, got {}", in.experts));
  if (in.gpus < 1) fail(fmt::format("GPUs must be >= 1, got {}", in.gpus));
  if (!in.gpu_host.empty() && in.gpu_host.size() != at(in.gpus))
    fail(fmt::format("gpu_host has {} entries for {} GPUs", in.gpu_host.size(), in.gpus));
  if (!in.gpu_domain.empty() && in.gpu_domain.size() != at(in.gpus))
    fail(fmt::format("gpu_domain has {} entries for {} GPUs", in.gpu_domain.size(), in.gpus));
  // A table of [layer][i] non-negative finite values, `width` per layer; empty is "not given".
  const auto check_table = [&](const std::vector<std::vector<double>>& t, const char* name, std::size_t width) {
    if (t.size() != at(in.moe_layers))
      fail(fmt::format("{} has {} layers, expected one per MoE layer ({})", name, t.size(), in.moe_layers));
    for (std::size_t l = 0; l < t.size(); ++l) {
      if (t[l].size() != width)
        fail(fmt::format("{} of layer {} has {} values, expected {}", name, l, t[l].size(), width));
      for (std::size_t i = 0; i < width; ++i)
        if (!std::isfinite(t[l][i]) || t[l][i] < 0)
          fail(fmt::format("{} of layer {} value {} is {}, expected a finite value >= 0", name, l, i, t[l][i]));
    }
  };
  if (need_load && in.load.empty()) fail("needs the per-expert loads of every layer (none given)");
  if (!in.load.empty()) check_table(in.load, "load", at(in.experts));
  if (!in.coselect.empty()) check_table(in.coselect, "coselect", at(in.experts) * at(in.experts - 1) / 2);
}

// GPUs grouped by NVLink domain: domains in ascending id order, GPUs ascending inside each.
// No domain table means one domain.
std::vector<Ids> group_domains(const PlacementInputs& in) {
  std::map<int, Ids> by_id;
  for (int g = 0; g < in.gpus; ++g) by_id[in.gpu_domain.empty() ? 0 : in.gpu_domain[at(g)]].push_back(g);
  std::vector<Ids> out;
  for (auto& [id, gpus] : by_id) out.push_back(std::move(gpus));
  return out;
}

// ---- greedy ----------------------------------------------------------------------------------

// Experts by load descending (ties: lower id), each onto the least-loaded GPU of `gpus` (given
// ascending; ties: lower id) holding fewer than `cap` experts. Fills out[expert] = {gpu}.
void greedy_fill(Ids experts, const Ids& gpus, int cap, const std::vector<double>& load, Layer& out) {
  std::sort(experts.begin(), experts.end(),
            [&](int a, int b) { return load[at(a)] != load[at(b)] ? load[at(a)] > load[at(b)] : a < b; });
  std::vector<double> gpu_sum(gpus.size(), 0.0);
  std::vector<int> count(gpus.size(), 0);
  for (int e : experts) {
    std::size_t best = gpus.size();
    for (std::size_t i = 0; i < gpus.size(); ++i)
      if (count[i] < cap && (best == gpus.size() || gpu_sum[i] < gpu_sum[best])) best = i;
    gpu_sum[best] += load[at(e)];  // best exists: the caller gives cap * |gpus| >= |experts|
    ++count[best];
    out[at(e)] = {gpus[best]};
  }
}

int ceil_div(int a, int b) { return (a + b - 1) / b; }

Placement greedy(const PlacementInputs& in) {
  Ids all(at(in.experts)), gpus(at(in.gpus));
  std::iota(all.begin(), all.end(), 0);
  std::iota(gpus.begin(), gpus.end(), 0);
  std::vector<Layer> layers(at(in.moe_layers), Layer(at(in.experts)));
  for (std::size_t l = 0; l < layers.size(); ++l)
    greedy_fill(all, gpus, ceil_div(in.experts, in.gpus), in.load[l], layers[l]);
  return Placement(in.gpus, std::move(layers));
}

// ---- redundant (DeepSeek EPLB) ---------------------------------------------------------------

// EPLB's balanced_packing: items by weight descending (ties: lower index), each into the lightest
// pack (ties: lower index) with fewer than `per_pack` items. Our addition: a pack never takes two
// items with the same label (two replicas of one expert on one GPU); when only such packs have
// room, a placed item of another GPU moves over to make room (always possible while no label
// has more items than there are packs). Returns the pack of each item.
Ids balanced_packing(const std::vector<double>& weight, const Ids& label, int packs, int per_pack) {
  Ids order(weight.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return weight[at(a)] > weight[at(b)]; });
  Ids pack_of(weight.size(), -1);
  std::vector<Ids> items(at(packs));
  std::vector<double> sum(at(packs), 0.0);
  const auto holds = [&](int p, int lab) {
    return std::any_of(items[at(p)].begin(), items[at(p)].end(), [&](int i) { return label[at(i)] == lab; });
  };
  const auto put = [&](int item, int p) {
    pack_of[at(item)] = p;
    items[at(p)].push_back(item);
    sum[at(p)] += weight[at(item)];
  };
  for (int x : order) {
    int best = -1, room = -1;
    for (int p = 0; p < packs; ++p) {
      if (static_cast<int>(items[at(p)].size()) >= per_pack) continue;
      if (room < 0) room = p;
      if (!holds(p, label[at(x)]) && (best < 0 || sum[at(p)] < sum[at(best)])) best = p;
    }
    if (best >= 0) {
      put(x, best);
      continue;
    }
    // Dead end: the packs with room (`room` first) all hold x's label. Move an item y from a pack
    // h without the label into `room`, then put x on h.
    bool moved = false;
    for (int h = 0; h < packs && !moved; ++h) {
      if (h == room || holds(h, label[at(x)])) continue;
      auto& hv = items[at(h)];
      for (std::size_t k = 0; k < hv.size() && !moved; ++k) {
        const int y = hv[k];
        if (holds(room, label[at(y)])) continue;
        hv.erase(hv.begin() + static_cast<std::ptrdiff_t>(k));
        sum[at(h)] -= weight[at(y)];
        put(y, room);
        put(x, h);
        moved = true;
      }
    }
    if (!moved) throw Error("placement redundant: internal error, no pack can take a replica");
  }
  return pack_of;
}

// EPLB's replicate_experts inside one domain: `slots` - |members| times, one more replica for the
// member with the highest load per replica (ties: earlier member), as EPLB; our addition: at most
// `max_copies` replicas each (one per GPU of the domain). Returns EPLB's physical experts: the
// members, then each added replica in the order added; `count` gets the replicas per member.
Ids replicate(const Ids& members, const std::vector<double>& load, int slots, int max_copies, Ids& count) {
  count.assign(members.size(), 1);
  Ids phys(members.size());
  std::iota(phys.begin(), phys.end(), 0);
  for (int extra = slots - static_cast<int>(members.size()); extra > 0; --extra) {
    std::size_t best = members.size();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (count[i] >= max_copies) continue;
      const double per = load[at(members[i])] / count[i];
      if (best == members.size() || per > load[at(members[best])] / count[best]) best = i;
    }
    ++count[best];  // exists: slots <= |members| * max_copies, checked by the caller
    phys.push_back(static_cast<int>(best));
  }
  return phys;  // indices into members
}

Placement redundant(const PlacementInputs& in) {
  const int E = in.experts, G = in.gpus, R = in.redundant_slots;
  if (R < 0) throw InputError(fmt::format("placement redundant: redundant_slots must be >= 0, got {}", R));
  if ((E + R) % G != 0) {
    const int up = R + (G - (E + R) % G);
    const int down = up - G;
    std::vector<int> work;  // no slots given: the first few that work (a GPU holds an expert at most once)
    for (int r = up; R == 0 && r <= E * (G - 1) && work.size() < 3; r += G) work.push_back(r);
    if (R == 0)
      throw InputError(
          fmt::format("placement redundant needs redundant_slots: {} experts do not divide evenly over {} GPUs; set "
                      "placement.redundant_slots so that experts + slots is a multiple of {}: {}{}",
                      E, G, G, fmt::join(work, ", "), work.size() == 3 ? ", ..." : ""));
    throw InputError(fmt::format(
        "placement redundant: experts + redundant_slots = {} + {} = {} is not a multiple of {} GPUs, so GPUs "
        "would hold different slot counts; use redundant_slots = {}{}",
        E, R, E + R, G, down >= 0 ? fmt::format("{} or ", down) : std::string(), up));
  }
  const int S = (E + R) / G;  // slots per GPU
  if (S > E)
    throw InputError(
        fmt::format("placement redundant: {} slots per GPU but only {} experts (a GPU holds an expert "
                    "at most once); redundant_slots must be <= {}",
                    S, E, E * G - E));
  // Hierarchical (EPLB with one expert per group) when domains are equal, share the experts
  // evenly and each domain has at least S experts; otherwise EPLB's global policy: one domain.
  std::vector<Ids> domains = group_domains(in);
  const auto N = static_cast<int>(domains.size());
  const bool equal =
      std::all_of(domains.begin(), domains.end(), [&](const Ids& d) { return d.size() == domains[0].size(); });
  if (N > 1 && !(equal && E % N == 0 && S <= E / N)) {
    Ids all(at(G));
    std::iota(all.begin(), all.end(), 0);
    domains = {all};
  }
  const auto nodes = static_cast<int>(domains.size());
  const int gpus_per_domain = G / nodes;
  std::vector<Layer> layers(at(in.moe_layers), Layer(at(E)));
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& load = in.load[l];
    // Step 1: experts to domains, E / nodes each, balancing load. EPLB numbers a domain's experts
    // by their rank in this packing (load descending), which orders ties in step 2.
    Ids order(at(E));
    std::iota(order.begin(), order.end(), 0);
    const Ids dom = nodes == 1 ? Ids(at(E), 0) : balanced_packing(load, order, nodes, E / nodes);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load[at(a)] > load[at(b)]; });
    std::vector<Ids> members(at(nodes));
    for (int e : order) members[at(dom[at(e)])].push_back(e);
    for (int d = 0; d < nodes; ++d) {
      // Step 2: replicas inside the domain; step 3: replicas (load split evenly) to its GPUs.
      const Ids& m = members[at(d)];
      Ids count;
      const Ids phys = replicate(m, load, S * gpus_per_domain, gpus_per_domain, count);
      std::vector<double> weight;
      Ids label;
      for (int i : phys) {
        weight.push_back(load[at(m[at(i)])] / count[at(i)]);
        label.push_back(m[at(i)]);
      }
      const Ids gpu_of = balanced_packing(weight, label, gpus_per_domain, S);
      for (std::size_t k = 0; k < label.size(); ++k) layers[l][at(label[k])].push_back(domains[at(d)][at(gpu_of[k])]);
    }
    for (auto& gpus : layers[l]) std::sort(gpus.begin(), gpus.end());
  }
  return Placement(G, std::move(layers));
}

// ---- topology aware --------------------------------------------------------------------------

// Experts per domain in proportion to its GPUs (largest remainder; ties: lower domain id).
Ids domain_targets(const std::vector<Ids>& domains, int experts, int gpus) {
  Ids t(domains.size());
  std::vector<std::pair<long, int>> rest;  // (-remainder, domain): sorts largest remainder first
  int given = 0;
  for (std::size_t d = 0; d < domains.size(); ++d) {
    const long share = static_cast<long>(experts) * static_cast<long>(domains[d].size());
    t[d] = static_cast<int>(share / gpus);
    given += t[d];
    rest.emplace_back(-(share % gpus), static_cast<int>(d));
  }
  std::sort(rest.begin(), rest.end());
  for (int k = 0; k < experts - given; ++k) ++t[at(rest[at(k)].second)];
  return t;
}

// Clusters experts into domains of target sizes, maximising the co-selection weight of pairs in
// one domain: grow each domain from the expert most co-selected with the unassigned ones, adding
// the expert most co-selected with the domain so far; then swap pairs across domains while a swap
// raises the weight (first improvement, at most 50 passes). Returns the domain of each expert.
Ids cluster(const std::vector<double>& cos, const Ids& target, int E) {
  const auto w = [&](int i, int j) { return i == j ? 0.0 : cos[coselect_index(std::min(i, j), std::max(i, j), E)]; };
  const auto N = static_cast<int>(target.size());
  Ids dom(at(E), -1);
  std::vector<double> to_free(at(E), 0.0);  // weight to still unassigned experts
  for (int i = 0; i < E; ++i)
    for (int j = 0; j < E; ++j) to_free[at(i)] += w(i, j);
  for (int d = 0; d < N; ++d) {
    std::vector<double> to_dom(at(E), 0.0);
    for (int n = 0; n < target[at(d)]; ++n) {
      int best = -1;
      for (int e = 0; e < E; ++e) {
        if (dom[at(e)] >= 0) continue;
        const double score = n == 0 ? to_free[at(e)] : to_dom[at(e)];
        if (best < 0 || score > (n == 0 ? to_free[at(best)] : to_dom[at(best)])) best = e;
      }
      dom[at(best)] = d;
      for (int e = 0; e < E; ++e) {
        to_dom[at(e)] += w(e, best);
        to_free[at(e)] -= w(e, best);
      }
    }
  }
  // W[e * N + d]: co-selection weight between expert e and the experts of domain d.
  std::vector<double> W(at(E) * at(N), 0.0);
  double total = 0;
  for (int i = 0; i < E; ++i)
    for (int j = 0; j < E; ++j) {
      W[at(i) * at(N) + at(dom[at(j)])] += w(i, j);
      total += w(i, j);
    }
  const double tol = 1e-12 * total;  // ignore gains lost in rounding, so passes end
  for (int pass = 0; pass < 50; ++pass) {
    bool improved = false;
    for (int a = 0; a < E; ++a)
      for (int b = a + 1; b < E; ++b) {
        const int da = dom[at(a)], db = dom[at(b)];
        if (da == db) continue;
        const auto Wa = [&](int d) { return W[at(a) * at(N) + at(d)]; };
        const auto Wb = [&](int d) { return W[at(b) * at(N) + at(d)]; };
        const double gain = Wa(db) - Wa(da) + Wb(da) - Wb(db) - 2 * w(a, b);
        if (gain <= tol) continue;
        for (int x = 0; x < E; ++x) {
          W[at(x) * at(N) + at(da)] += w(x, b) - w(x, a);
          W[at(x) * at(N) + at(db)] += w(x, a) - w(x, b);
        }
        dom[at(a)] = db;
        dom[at(b)] = da;
        improved = true;
      }
    if (!improved) break;
  }
  return dom;
}

// Relabels the groups so that each lands in the domain sending it the most tokens: greedily over
// (group, domain) pairs by affinity, among domains of the group's size.
Ids toward_sources(const Ids& dom, const std::vector<Ids>& domains, const Ids& target, const std::vector<double>& src,
                   int experts) {
  const std::size_t n = domains.size();
  std::vector<std::vector<double>> affinity(n, std::vector<double>(n, 0.0));  // [group][domain]
  for (int e = 0; e < experts; ++e)
    for (std::size_t d = 0; d < n; ++d)
      for (int g : domains[d]) affinity[at(dom[at(e)])][d] += src[at(g) * at(experts) + at(e)];
  std::vector<std::pair<double, std::pair<std::size_t, std::size_t>>> pairs;
  for (std::size_t c = 0; c < n; ++c)
    for (std::size_t d = 0; d < n; ++d)
      if (target[c] == target[d]) pairs.push_back({affinity[c][d], {c, d}});
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  Ids to(n, -1);
  std::vector<char> taken(n, 0);
  for (const auto& [a, cd] : pairs)
    if (to[cd.first] < 0 && !taken[cd.second]) {
      to[cd.first] = static_cast<int>(cd.second);
      taken[cd.second] = 1;
    }
  Ids out(dom.size());
  for (std::size_t e = 0; e < dom.size(); ++e) out[e] = to[at(dom[e])];
  return out;
}

Placement topology_aware(const PlacementInputs& in) {
  if (in.gpu_domain.empty())
    throw InputError("placement topology_aware: needs the NVLink domain of every GPU (gpu_domain)");
  const std::vector<Ids> domains = group_domains(in);
  if (domains.size() > 1 && in.coselect.empty())
    throw InputError(
        fmt::format("placement topology_aware: needs expert co-selection counts to group experts "
                    "into the {} NVLink domains (none given)",
                    domains.size()));
  const Ids target = domain_targets(domains, in.experts, in.gpus);
  std::vector<Layer> layers(at(in.moe_layers), Layer(at(in.experts)));
  for (std::size_t l = 0; l < layers.size(); ++l) {
    Ids dom = domains.size() > 1 ? cluster(in.coselect[l], target, in.experts) : Ids(at(in.experts), 0);
    if (domains.size() > 1 && !in.source_load.empty())
      dom = toward_sources(dom, domains, target, in.source_load[l], in.experts);
    for (std::size_t d = 0; d < domains.size(); ++d) {
      Ids members;
      for (int e = 0; e < in.experts; ++e)
        if (dom[at(e)] == static_cast<int>(d)) members.push_back(e);
      const int cap = ceil_div(target[d], static_cast<int>(domains[d].size()));
      greedy_fill(members, domains[d], cap, in.load[l], layers[l]);
    }
  }
  return Placement(in.gpus, std::move(layers));
}

}  // namespace

std::vector<PlacementKind> placement_strategy_kinds() {
  return {PlacementKind::contiguous, PlacementKind::round_robin, PlacementKind::greedy, PlacementKind::redundant,
          PlacementKind::topology_aware};
}

Placement make_placement(PlacementKind kind, const PlacementInputs& in) {
  const std::string_view name = setting_name(kind);
  switch (kind) {
    case PlacementKind::contiguous:
    case PlacementKind::round_robin:
      check_inputs(name, in, false);
      return make_placement(kind, in.moe_layers, in.experts, in.gpus);
    case PlacementKind::greedy:
      check_inputs(name, in, true);
      return greedy(in);
    case PlacementKind::redundant:
      check_inputs(name, in, true);
      return redundant(in);
    case PlacementKind::topology_aware:
      check_inputs(name, in, true);
      return topology_aware(in);
    case PlacementKind::from_file:
      break;
  }
  throw Error("placement: from_file is read by io::load_placement, not computed");
}

std::vector<double> gpu_load(const Placement& p, int layer, const std::vector<double>& expert_load) {
  if (layer < 0 || layer >= p.layers() || expert_load.size() != at(p.experts()))
    throw Error(fmt::format("gpu_load: layer {} of {} with {} loads for {} experts", layer, p.layers(),
                            expert_load.size(), p.experts()));
  std::vector<double> out(at(p.gpus()), 0.0);
  for (int e = 0; e < p.experts(); ++e) {
    const auto& gpus = p.replicas(layer, e);
    for (int g : gpus) out[at(g)] += expert_load[at(e)] / static_cast<double>(gpus.size());
  }
  return out;
}

std::vector<double> expert_bytes_per_gpu(const Placement& p, double bytes_per_expert) {
  std::vector<double> out(at(p.gpus()), 0.0);
  for (int l = 0; l < p.layers(); ++l)
    for (int g = 0; g < p.gpus(); ++g)
      out[at(g)] += static_cast<double>(p.local_experts(l, g).size()) * bytes_per_expert;
  return out;
}

}  // namespace moesim
