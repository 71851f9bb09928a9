// Text rendering of a TopologySummary (links grouped by class and per-link bandwidth).
#include "report/topology_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace moesim {

namespace {
constexpr std::size_t kGpuNamesListed = 8;  // more GPUs than this are shown as a range
constexpr std::size_t kLineWidth = 100;
constexpr std::size_t kNamesColumn = 21;  // where a group's names start: after "    kind      count  "
}  // namespace

std::string topology_summary_text(const TopologySummary& s) {
  std::string out;
  auto line = std::back_inserter(out);
  fmt::format_to(line, "topology {}\n", s.name);
  fmt::format_to(line, "  GPUs                     {}\n", s.gpus);
  fmt::format_to(line, "  hosts (servers/trays)    {}\n", s.hosts);
  fmt::format_to(line, "  NVLink domains           {}\n", s.domains);
  fmt::format_to(line, "  nodes / directed links   {} / {}\n", s.nodes, s.links);
  fmt::format_to(line, "  nodes by kind (link faults name their ends a, b by these):\n");
  for (const NodeGroup& g : s.node_groups) {
    fmt::format_to(line, "    {:<9} {:>5}  ", g.kind, g.names.size());
    // Many GPUs read best as a range; switches and NICs are few and each one may be a target.
    if (g.kind == "gpu" && g.names.size() > kGpuNamesListed) {
      fmt::format_to(line, "{}, {}, ..., {}\n", g.names[0], g.names[1], g.names.back());
      continue;
    }
    std::size_t column = kNamesColumn;
    for (std::size_t i = 0; i < g.names.size(); ++i) {
      if (i > 0 && column + 1 + g.names[i].size() > kLineWidth) {
        fmt::format_to(line, "\n{:{}}", "", kNamesColumn);
        column = kNamesColumn;
      } else if (i > 0) {
        fmt::format_to(line, " ");
        ++column;
      }
      fmt::format_to(line, "{}", g.names[i]);
      column += g.names[i].size();
    }
    fmt::format_to(line, "\n");
  }
  fmt::format_to(line, "  links by class (each link is one direction):\n");
  std::size_t width = 5;
  for (const auto& c : s.classes) width = std::max(width, c.link_class.size());
  fmt::format_to(line, "    {:<{}}  {:>7}  {:>12}  {:>12}\n", "class", width, "links", "GB/s each", "GB/s total");
  for (const auto& c : s.classes)
    fmt::format_to(line, "    {:<{}}  {:>7}  {:>12.1f}  {:>12.1f}\n", c.link_class, width, c.links, c.bandwidth.GBps(),
                   c.total.GBps());
  fmt::format_to(line, "  injection per GPU        {:.1f} GB/s (all links out of the GPU, max over GPUs)\n",
                 s.injection.GBps());
  fmt::format_to(line, "  scale-out per GPU        {:.1f} GB/s (\"nic\" links, {:.0f} Gb/s)\n",
                 s.scaleout_injection.GBps(), s.scaleout_injection.GBps() * 8);
  fmt::format_to(line, "  bisection                {:.1f} GB/s (min cut, one direction, GPUs [0,{}) vs [{},{}))\n",
                 s.bisection.GBps(), s.gpus / 2, s.gpus / 2, s.gpus);
  fmt::format_to(line, "  max ECMP paths per pair  {}\n", s.max_ecmp_paths);
  fmt::format_to(line, "  max hops (links) on a route {}\n", s.max_path_links);
  return out;
}

}  // namespace moesim
