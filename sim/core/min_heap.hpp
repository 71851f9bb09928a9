#pragma once
// 4-ary min-heap operations on a std::vector, written so that choosing the smallest child compiles
// to conditional moves: the keys these heaps hold (fair shares, finish times) are in no order a
// branch predictor can learn, and std::pop_heap's branch on it mispredicts about half the time.
// Four children per node halve the depth, and so the chain of dependent loads a pop walks.
#include <cstddef>
#include <utility>
#include <vector>

namespace moesim {

// `less(a, b)`: a strict weak order; the smallest element is at front(). Write it with `&` and `|`
// rather than `&&` and `||`, so that it stays free of branches.
template <class T, class Less>
void heap_sift_down(std::vector<T>& h, std::size_t i, T x, Less less) {
  const std::size_t n = h.size();
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t c = first;
    if (first + 3 < n) {  // all four children: two independent comparisons, then one
      const std::size_t a = first + static_cast<std::size_t>(less(h[first + 1], h[first]));
      const std::size_t b = first + 2 + static_cast<std::size_t>(less(h[first + 3], h[first + 2]));
      c = less(h[b], h[a]) ? b : a;
    } else {
      for (std::size_t k = first + 1; k < n; ++k) c = less(h[k], h[c]) ? k : c;
    }
    if (!less(h[c], x)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = std::move(x);
}

template <class T, class Less>
void heap_push(std::vector<T>& h, T x, Less less) {
  std::size_t i = h.size();
  h.push_back(x);
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (!less(x, h[parent])) break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = std::move(x);
}

// Removes front().
template <class T, class Less>
void heap_pop(std::vector<T>& h, Less less) {
  T last = std::move(h.back());
  h.pop_back();
  if (!h.empty()) heap_sift_down(h, 0, std::move(last), less);
}

template <class T, class Less>
void heap_make(std::vector<T>& h, Less less) {
  for (std::size_t i = (h.size() + 2) / 4; i-- > 0;) heap_sift_down(h, i, h[i], less);
}

}  // namespace moesim
