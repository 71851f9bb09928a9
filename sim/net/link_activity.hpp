#pragma once
// Link activity shared by the network models (see Network::link_activity): each flow's bytes
// spread evenly over its time on a link, summed by kActivityWindowPs window, and each link's
// fullest window; and each link's busy time from the flows on it.
#include <cstdint>
#include <vector>

#include "core/units.hpp"

namespace moesim {

// The window of LinkActivity::peak_occupancy: shorter than a dispatch or combine phase (tens of
// us in decode), so a phase's burst is not averaged away, and long enough to span many flows.
inline constexpr TimePs kActivityWindowPs = 10 * kPsPerUs;

class LinkWindows {
 public:
  explicit LinkWindows(std::size_t links) : links_(links) {}
  // A flow's `bytes` on `link` from start_ps to end_ps; start_ps is no earlier than the last
  // settle(). A few operations: the hot path of both models.
  void add(std::size_t link, TimePs start_ps, TimePs end_ps, double bytes) {
    Link& k = links_[link];
    const std::int64_t ws = start_ps / kWindowPs;
    const std::int64_t we = end_ps > start_ps ? (end_ps - 1) / kWindowPs : ws;
    // A flow longer than kMaxSpan windows is no burst: it would hold open (and allocate) a window
    // per 10 us of its life, for at most 1/kMaxSpan of its bytes in any one. Left out of the peak.
    if (we - ws > kMaxSpan) [[unlikely]]
      return;
    if (k.count == 0) open(link, ws);
    // Long after its open windows (and no settle() since): they are final, as a flow still in
    // flight over the gap would span more than kMaxSpan windows. Close them rather than allocate the gap.
    if (ws - (k.first + k.count) > kMaxSpan) [[unlikely]]
      skip_to(k, ws);
    if (ws < k.first) prepend(k, ws);  // (flows may end out of start order)
    const auto need = static_cast<std::uint32_t>(we - k.first + 1);
    if (need > k.count) extend(k, need);
    const std::uint32_t mask = static_cast<std::uint32_t>(k.ring.size()) - 1;
    const auto at = [&](std::int64_t w) -> Window& {
      return k.ring[(k.head + static_cast<std::uint32_t>(w - k.first)) & mask];
    };
    if (ws == we) {
      at(ws).part += bytes;
      return;
    }
    const double rate = bytes / static_cast<double>(end_ps - start_ps);
    at(ws).part += rate * static_cast<double>((ws + 1) * kWindowPs - start_ps);
    at(we).part += rate * static_cast<double>(end_ps - we * kWindowPs);
    if (we > ws + 1) {  // whole windows between: a rate from ws + 1 up to we
      at(ws + 1).step += rate;
      at(we).step -= rate;
    }
  }
  // No flow added from now on starts before `ps`: the windows that end by then are closed.
  void settle(TimePs ps);
  // The most bytes each link carried in one window (every window closed).
  std::vector<double> peak_bytes() const;

  static constexpr TimePs kWindowPs = kActivityWindowPs;
  static constexpr std::int64_t kMaxSpan = 1 << 14;  // windows (164 ms)

 private:
  struct Window {
    double part = 0;  // bytes of the flows that start or end in it
    double step = 0;  // change of the rate (bytes per ps) of flows spanning whole windows
  };
  struct Link {
    std::int64_t first = 0;  // the window in ring[head]
    std::uint32_t head = 0;
    std::uint32_t count = 0;   // open windows, from `first` on
    std::vector<Window> ring;  // a power of two long
    double rate = 0;           // of the flows spanning whole windows, at `first`
    double peak = 0;           // most bytes in one closed window
  };
  void open(std::size_t link, std::int64_t window);        // an empty link gets its first window
  static void extend(Link& k, std::uint32_t count);        // `count` open windows, the new ones empty
  static void prepend(Link& k, std::int64_t window);       // open windows from `window` on
  static void close_before(Link& k, std::int64_t window);  // closes the windows before `window`
  static void skip_to(Link& k, std::int64_t window);       // closes every open window; the next is `window`
  std::vector<Link> links_;
  std::vector<std::uint32_t> open_;  // links with open windows (settle() looks at no other)
};

}  // namespace moesim
