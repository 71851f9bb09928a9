// Link activity bookkeeping (see link_activity.hpp), and what each network model reports of it.
#include "net/link_activity.hpp"

#include <algorithm>
#include <bit>

#include "net/analytic_network.hpp"
#include "net/flow_model.hpp"

namespace moesim {

void LinkWindows::open(std::size_t link, std::int64_t window) {
  Link& k = links_[link];
  k.first = window;
  k.head = 0;
  k.rate = 0;  // every flow has ended: no rounding carried over
  open_.push_back(static_cast<std::uint32_t>(link));
}

void LinkWindows::extend(Link& k, std::uint32_t count) {
  if (count > k.ring.size()) {
    std::vector<Window> ring(std::bit_ceil(std::max<std::size_t>(count, 8)));
    const std::size_t mask = k.ring.size() - 1;
    for (std::uint32_t i = 0; i < k.count; ++i) ring[i] = k.ring[(k.head + i) & mask];
    k.ring.swap(ring);
    k.head = 0;
  }
  const std::size_t mask = k.ring.size() - 1;
  for (std::uint32_t i = k.count; i < count; ++i) k.ring[(k.head + i) & mask] = Window{};
  k.count = count;
}

void LinkWindows::prepend(Link& k, std::int64_t window) {
  // No window after the last settle() was closed, so none between `window` and `first` was.
  const auto more = static_cast<std::uint32_t>(k.first - window);
  extend(k, k.count + more);  // room; then the head moves back over `more` empty windows
  const std::size_t mask = k.ring.size() - 1;
  k.head = static_cast<std::uint32_t>((k.head + k.ring.size() - more) & mask);
  for (std::uint32_t i = 0; i < more; ++i) k.ring[(k.head + i) & mask] = Window{};
  k.first = window;
}

void LinkWindows::close_before(Link& k, std::int64_t window) {
  const std::size_t mask = k.ring.size() - 1;
  for (; k.count > 0 && k.first < window; ++k.first, --k.count) {
    const Window& w = k.ring[k.head];
    k.rate += w.step;
    k.peak = std::max(k.peak, w.part + k.rate * static_cast<double>(kWindowPs));
    k.head = static_cast<std::uint32_t>((k.head + 1) & mask);
  }
}

void LinkWindows::skip_to(Link& k, std::int64_t window) {
  close_before(k, k.first + k.count);
  k.first = window;
  k.head = 0;
  k.rate = 0;  // the flows spanning whole windows ended in the closed ones
}

void LinkWindows::settle(TimePs ps) {
  const std::int64_t window = ps / kWindowPs;
  std::size_t kept = 0;
  for (const std::uint32_t l : open_) {
    Link& k = links_[l];
    close_before(k, window);
    if (k.count > 0) open_[kept++] = l;
  }
  open_.resize(kept);
}

std::vector<double> LinkWindows::peak_bytes() const {
  std::vector<double> out;
  out.reserve(links_.size());
  for (Link k : links_) {  // a copy, closed whole
    close_before(k, k.first + k.count);
    out.push_back(k.peak);
  }
  return out;
}

namespace {
// Peak bytes per window as a share of what the link could carry in one; capped: each flow's
// bytes are spread evenly over its time on the link, so flows that sped up and slowed down can
// add up to a little more than the link carried in one window.
double occupancy(double peak_bytes, double bytes_per_ps) {
  const double window_bytes = bytes_per_ps * static_cast<double>(kActivityWindowPs);
  return window_bytes > 0 ? std::min(1.0, peak_bytes / window_bytes) : 0;
}
}  // namespace

std::vector<LinkActivity> FlowModel::link_activity() const {
  const std::vector<double> peak = windows_.peak_bytes();
  std::vector<LinkActivity> out(busy_.size());
  for (std::size_t l = 0; l < out.size(); ++l)
    out[l] = LinkActivity{busy_[l].busy_ps, occupancy(peak[l], solver_.capacity()[l])};
  return out;
}

std::vector<LinkActivity> AnalyticNetwork::link_activity() const {
  const std::vector<double> peak = windows_.peak_bytes();
  std::vector<LinkActivity> out(busy_.size());
  for (std::size_t l = 0; l < out.size(); ++l)
    out[l] = LinkActivity{busy_[l].busy_ps + (busy_[l].end - busy_[l].begin),
                          occupancy(peak[l], topology_.link(static_cast<int>(l)).bandwidth.bytes_per_ps())};
  return out;
}

}  // namespace moesim
