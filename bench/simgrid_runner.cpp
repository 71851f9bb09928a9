// SimGrid side of the flow-model cross-check (see simgrid_runner.hpp).
#include "simgrid_runner.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <numeric>
#include <simgrid/s4u.hpp>
#include <string>

#include "bench_util.hpp"
#include "core/error.hpp"

namespace sg4 = simgrid::s4u;

namespace moesim::bench {

namespace {

// SimGrid's time unit stands for one microsecond here: flows last microseconds, and SimGrid's
// precision thresholds are absolute, so its times are kept near 1 rather than near 1e-6.
constexpr double kPsPerUnit = 1e6;
constexpr double kBytesPerUnitPerGBps = 1e3;  // 1 GB/s = 1e3 bytes per microsecond

// In a child: builds the platform, runs the flows of `group`, writes cpu_s and their finish times
// (in group order) to `out`.
void simulate(const SgInput& in, const std::vector<std::uint32_t>& group, std::FILE* out) {
  int argc = 2;
  char arg0[] = "simgrid_check";
  char arg1[] = "--log=root.thres:warning";
  char* argv[] = {arg0, arg1, nullptr};
  sg4::Engine e(&argc, argv);
  // Plain max-min: no cross traffic on the reverse path, no TCP window bound, shares not weighted
  // by latency; fine numerical thresholds (in the scaled units above).
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
  sg4::Engine::set_config("network/weight-S:0");
  sg4::Engine::set_config("surf/precision:1e-9");
  sg4::Engine::set_config("maxmin/precision:1e-9");

  auto* zone = sg4::create_full_zone("fabric");
  std::vector<sg4::Link*> links;
  links.reserve(in.link_GBps.size());
  for (std::size_t l = 0; l < in.link_GBps.size(); ++l)
    links.push_back(zone->create_link("l" + std::to_string(l), in.link_GBps[l] * kBytesPerUnitPerGBps)
                        ->set_latency(0)
                        ->set_sharing_policy(sg4::Link::SharingPolicy::SHARED)
                        ->seal());
  // One host per GPU and route variant; a variant's routes join the hosts of that variant.
  std::vector<std::vector<sg4::Host*>> hosts;  // [variant][gpu]
  auto host = [&](int variant, int gpu) {
    if (hosts.size() <= static_cast<std::size_t>(variant)) hosts.resize(static_cast<std::size_t>(variant) + 1);
    auto& row = hosts[static_cast<std::size_t>(variant)];
    if (row.size() <= static_cast<std::size_t>(gpu)) row.resize(static_cast<std::size_t>(gpu) + 1, nullptr);
    sg4::Host*& h = row[static_cast<std::size_t>(gpu)];
    if (h == nullptr) h = zone->create_host("g" + std::to_string(gpu) + "v" + std::to_string(variant), 1.0)->seal();
    return h;
  };
  std::vector<std::pair<sg4::Host*, sg4::Host*>> ends;
  ends.reserve(in.routes.size());
  for (const SgRoute& r : in.routes) {
    sg4::Host* src = host(r.variant, r.src_gpu);
    sg4::Host* dst = host(r.variant, r.dst_gpu);
    std::vector<sg4::LinkInRoute> path;
    for (int l : r.links) path.emplace_back(links[static_cast<std::size_t>(l)]);
    zone->add_route(src->get_netpoint(), dst->get_netpoint(), nullptr, nullptr, path, false);
    ends.emplace_back(src, dst);
  }
  zone->seal();

  // Flows start in time order (ties in group order) from one driver actor.
  std::vector<std::size_t> order(group.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return in.flows[group[a]].start_ps < in.flows[group[b]].start_ps;
  });
  std::vector<sg4::CommPtr> comms(group.size());
  sg4::Actor::create("driver", ends.empty() ? host(0, 0) : ends.front().first, [&] {
    for (std::size_t i : order) {
      const SgFlow& f = in.flows[group[i]];
      const double at = f.start_ps / kPsPerUnit;
      if (at > sg4::Engine::get_clock()) sg4::this_actor::sleep_until(at);
      const auto& [src, dst] = ends[f.route];
      comms[i] = sg4::Comm::sendto_async(src, dst, f.bytes);
    }
    for (const sg4::CommPtr& c : comms) c->wait();  // one by one: O(flows)
  });
  const double cpu0 = cpu_seconds();
  e.run();
  const double cpu_s = cpu_seconds() - cpu0;
  std::vector<double> finish(group.size());
  for (std::size_t i = 0; i < comms.size(); ++i) finish[i] = comms[i]->get_finish_time() * kPsPerUnit;
  if (std::fwrite(&cpu_s, sizeof cpu_s, 1, out) != 1 ||
      std::fwrite(finish.data(), sizeof(double), finish.size(), out) != finish.size() || std::fflush(out) != 0)
    std::_Exit(3);
}

}  // namespace

SgResult run_simgrid(const SgInput& input) {
  std::vector<std::vector<std::uint32_t>> all;
  const auto& groups = input.groups.empty() ? all : input.groups;
  if (groups.empty()) {
    all.emplace_back(input.flows.size());
    std::iota(all.back().begin(), all.back().end(), std::uint32_t{0});
  }
  SgResult r;
  r.finish_ps.assign(input.flows.size(), -1.0);
  struct Child {
    pid_t pid;
    std::size_t group;
    std::FILE* out;
  };
  std::vector<Child> running;
  // Waits for one child and takes its results.
  auto reap = [&] {
    int status = 0;
    const pid_t pid = ::wait(&status);
    const auto it = std::find_if(running.begin(), running.end(), [&](const Child& c) { return c.pid == pid; });
    if (it == running.end()) throw Error("simgrid_check: lost a SimGrid process");
    const Child c = *it;
    running.erase(it);
    const auto& group = groups[c.group];
    std::vector<double> finish(group.size());
    double cpu_s = 0;
    std::rewind(c.out);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && std::fread(&cpu_s, sizeof cpu_s, 1, c.out) == 1 &&
                    std::fread(finish.data(), sizeof(double), finish.size(), c.out) == finish.size();
    std::fclose(c.out);
    if (!ok) throw Error("simgrid_check: a SimGrid run failed (status " + std::to_string(status) + ")");
    r.cpu_s += cpu_s;
    for (std::size_t i = 0; i < group.size(); ++i) r.finish_ps[group[i]] = finish[i];
  };
  for (std::size_t g = 0; g < groups.size(); ++g) {
    while (running.size() >= static_cast<std::size_t>(std::max(1, input.jobs))) reap();
    std::FILE* out = std::tmpfile();
    if (out == nullptr) throw Error("simgrid_check: no temporary file");
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) throw Error("simgrid_check: fork failed");
    if (pid == 0) {
      try {
        simulate(input, groups[g], out);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "simgrid_check: SimGrid: %s\n", ex.what());
        std::_Exit(2);
      }
      std::_Exit(0);
    }
    running.push_back({pid, g, out});
  }
  while (!running.empty()) reap();
  return r;
}

namespace {

// FNV-1a over the input, so that a cache file answers for the same flows on the same platform only.
std::uint64_t input_hash(const SgInput& in) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  };
  mix(in.link_GBps.data(), in.link_GBps.size() * sizeof(double));
  for (const SgRoute& r : in.routes) {
    const int head[3] = {r.src_gpu, r.dst_gpu, r.variant};
    mix(head, sizeof head);
    mix(r.links.data(), r.links.size() * sizeof(int));
  }
  for (const SgFlow& f : in.flows) {
    mix(&f.route, sizeof f.route);
    mix(&f.bytes, sizeof f.bytes);
    mix(&f.start_ps, sizeof f.start_ps);
  }
  return h;
}

}  // namespace

SgResult run_simgrid_cached(const SgInput& input, const std::string& cache_file, bool& cached) {
  cached = false;
  if (cache_file.empty()) return run_simgrid(input);
  const std::uint64_t hash = input_hash(input);
  const std::uint64_t flows = input.flows.size();
  if (std::FILE* f = std::fopen(cache_file.c_str(), "rb")) {
    std::uint64_t head[2] = {0, 0};
    SgResult r;
    r.finish_ps.resize(input.flows.size());
    const bool ok = std::fread(head, sizeof head, 1, f) == 1 && head[0] == hash && head[1] == flows &&
                    std::fread(&r.cpu_s, sizeof r.cpu_s, 1, f) == 1 &&
                    std::fread(r.finish_ps.data(), sizeof(double), r.finish_ps.size(), f) == r.finish_ps.size();
    std::fclose(f);
    if (ok) {
      cached = true;
      return r;
    }
  }
  SgResult r = run_simgrid(input);
  if (std::FILE* f = std::fopen(cache_file.c_str(), "wb")) {
    const std::uint64_t head[2] = {hash, flows};
    const bool ok = std::fwrite(head, sizeof head, 1, f) == 1 && std::fwrite(&r.cpu_s, sizeof r.cpu_s, 1, f) == 1 &&
                    std::fwrite(r.finish_ps.data(), sizeof(double), r.finish_ps.size(), f) == r.finish_ps.size();
    if (std::fclose(f) != 0 || !ok) throw Error("simgrid_check: cannot write " + cache_file);
  } else {
    throw Error("simgrid_check: cannot write " + cache_file);
  }
  return r;
}

}  // namespace moesim::bench
