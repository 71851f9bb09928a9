#pragma once
// Helpers shared by the gate tests.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace moesim::test {

// Every token's top_k ids are in [0, experts) and pairwise distinct.
inline bool tokens_distinct(const std::vector<int>& ids, int top_k, int experts) {
  for (std::size_t t = 0; t < ids.size(); t += static_cast<std::size_t>(top_k)) {
    std::vector<int> tok(ids.begin() + static_cast<long>(t), ids.begin() + static_cast<long>(t) + top_k);
    for (int e : tok)
      if (e < 0 || e >= experts) return false;
    std::sort(tok.begin(), tok.end());
    if (std::adjacent_find(tok.begin(), tok.end()) != tok.end()) return false;
  }
  return true;
}

}  // namespace moesim::test
