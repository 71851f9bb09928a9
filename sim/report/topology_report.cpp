// Text rendering of a TopologySummary (links grouped by class and per-link bandwidth).
#include "report/topology_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace moesim {

std::string topology_summary_text(const TopologySummary& s) {
  std::string out;
  auto line = std::back_inserter(out);
  fmt::format_to(line, "topology {}\n", s.name);
  fmt::format_to(line, "  GPUs                     {}\n", s.gpus);
  fmt::format_to(line, "  hosts (servers/trays)    {}\n", s.hosts);
  fmt::format_to(line, "  NVLink domains           {}\n", s.domains);
  fmt::format_to(line, "  nodes / directed links   {} / {}\n", s.nodes, s.links);
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
