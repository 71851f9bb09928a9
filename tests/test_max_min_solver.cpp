// The max-min solver alone: a textbook example, random instances against a reference
// progressive filling, bottlenecks and the moves a solve reports, and bad variables.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "max_min_reference.hpp"
#include "net/max_min_solver.hpp"

using namespace moesim;

TEST_CASE("max-min solver: classic two-link example", "[net]") {
  // Link 0 has capacity 10, link 1 has 20. A uses link 0, B uses both, C uses link 1.
  // Link 0 is the bottleneck: A = B = 10 / 2 = 5. C gets what B leaves on link 1: 20 - 5 = 15.
  MaxMinSolver s({10, 20});
  const std::vector<std::int32_t> a{0}, b{0, 1}, c{1};
  const std::uint32_t va = s.add(a), vb = s.add(b), vc = s.add(c);
  std::vector<double> rates(3, -1);
  for (const auto& x : s.solve()) rates[x.var] = x.rate;
  REQUIRE(rates[va] == Approx(5));
  REQUIRE(rates[vb] == Approx(5));
  REQUIRE(rates[vc] == Approx(15));
  REQUIRE(s.remaining()[0] == Approx(0));
  REQUIRE(s.remaining()[1] == Approx(0));
  // Without A, B and C split link 1 once B's share of link 0 (10) exceeds link 1's fair share.
  s.remove(va);
  std::fill(rates.begin(), rates.end(), -1);
  for (const auto& x : s.solve()) rates[x.var] = x.rate;
  REQUIRE(rates[vb] == Approx(10));
  REQUIRE(rates[vc] == Approx(10));
  REQUIRE(rates[va] == -1);
}

namespace {
using Moves = std::vector<std::pair<std::uint32_t, std::int32_t>>;

// Solves; returns the moves the solve reported, in order.
Moves solve_moves(MaxMinSolver& s) {
  Moves moved;
  s.solve([&](std::uint32_t var, std::int32_t to) { moved.emplace_back(var, to); });
  return moved;
}
}  // namespace

TEST_CASE("max-min solver: rejects resources out of range or used twice", "[net]") {
  MaxMinSolver s({1, 1, 1});
  REQUIRE_THROWS_WITH(s.add(std::vector<std::int32_t>{3}), Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(s.add(std::vector<std::int32_t>{-1}), Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(s.add(std::vector<std::int32_t>{0, 0}), Catch::Contains("twice"));
  REQUIRE_THROWS_WITH(s.add(std::vector<std::int32_t>{0, 1, 2, 1}), Catch::Contains("twice"));
  REQUIRE(s.size() == 0);
}

TEST_CASE("max-min solver: moves of a variable on three resources", "[net]") {
  // B uses links 0, 1 and 2 (capacities 10, 18, 40); A uses link 0, C link 1. B and A share link
  // 0 at 5; without A, B's share of link 0 (10) exceeds link 1's (9): B moves to link 1.
  MaxMinSolver s({10, 18, 40});
  const std::uint32_t va = s.add(std::vector<std::int32_t>{0});
  const std::uint32_t vb = s.add(std::vector<std::int32_t>{0, 1, 2});
  const std::uint32_t vc = s.add(std::vector<std::int32_t>{1});
  REQUIRE(solve_moves(s).size() == 3);
  REQUIRE(s.bottleneck(vb) == 0);
  REQUIRE(s.bottleneck(vc) == 1);
  REQUIRE(s.remaining()[2] == Approx(35));
  REQUIRE(solve_moves(s).empty());
  s.remove(va);
  REQUIRE(solve_moves(s) == Moves{{vb, 1}});
  REQUIRE(s.bottleneck(vb) == 1);
  REQUIRE(s.remaining()[0] == Approx(1));
  REQUIRE(s.remaining()[2] == Approx(31));
}

TEST_CASE("max-min solver: random instances with adds and removes match a reference", "[net]") {
  std::uint64_t x = 12345;
  const auto next = [&](std::uint64_t n) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % n;
  };
  for (int round = 0; round < 20; ++round) {
    const std::size_t n_res = 3 + next(10);
    std::vector<double> cap;
    for (std::size_t r = 0; r < n_res; ++r) cap.push_back(1.0 + static_cast<double>(next(100)));
    MaxMinSolver s(cap);
    std::vector<std::uint32_t> handle;            // live variables' handles
    std::vector<std::vector<std::int32_t>> uses;  // and their resources, in the same order
    for (int phase = 0; phase < 4; ++phase) {
      const std::size_t adds = 1 + next(25);
      for (std::size_t i = 0; i < adds; ++i) {
        std::vector<std::int32_t> path;
        const std::size_t len = 1 + next(8);  // longer than the initial stride now and then
        for (std::size_t k = 0; k < len; ++k) {
          const auto r = static_cast<std::int32_t>(next(n_res));
          if (std::find(path.begin(), path.end(), r) == path.end()) path.push_back(r);
        }
        handle.push_back(s.add(path));
        uses.push_back(path);
      }
      for (std::size_t i = 0, removes = next(handle.size()); i < removes; ++i) {
        const std::size_t j = next(handle.size());
        s.remove(handle[j]);
        handle.erase(handle.begin() + static_cast<std::ptrdiff_t>(j));
        uses.erase(uses.begin() + static_cast<std::ptrdiff_t>(j));
      }
      REQUIRE(s.size() == handle.size());
      const std::vector<double> want = test::reference_max_min(cap, uses);
      std::vector<double> got(handle.size(), -1);
      for (const auto& f : s.solve())
        for (std::size_t j = 0; j < handle.size(); ++j)
          if (handle[j] == f.var) got[j] = f.rate;
      for (std::size_t j = 0; j < handle.size(); ++j) {
        INFO("round " << round << " phase " << phase << " variable " << j);
        REQUIRE(got[j] == Approx(want[j]).epsilon(1e-9));
      }
      std::vector<double> used(n_res, 0);
      for (std::size_t j = 0; j < handle.size(); ++j)
        for (std::int32_t q : uses[j]) used[static_cast<std::size_t>(q)] += got[j];
      for (std::size_t r = 0; r < n_res; ++r) REQUIRE(s.remaining()[r] == Approx(cap[r] - used[r]).margin(1e-9));
    }
  }
}

TEST_CASE("max-min solver: bottlenecks, levels and moves", "[net]") {
  // A uses link 0 (capacity 10), B both, C link 1 (18): A and B are fixed at link 0 (level 5),
  // C at link 1 (level 18 - 5 = 13).
  MaxMinSolver s({10, 18});
  const std::vector<std::int32_t> a{0}, b{0, 1}, c{1};
  const std::uint32_t va = s.add(a), vb = s.add(b), vc = s.add(c);
  REQUIRE(solve_moves(s).size() == 3);  // never fixed before: all reported
  REQUIRE(s.bottleneck(va) == 0);
  REQUIRE(s.bottleneck(vb) == 0);
  REQUIRE(s.bottleneck(vc) == 1);
  REQUIRE(s.bottlenecks().size() == 2);
  REQUIRE(s.bottlenecks()[0].resource == 0);
  REQUIRE(s.bottlenecks()[0].share == Approx(5));
  REQUIRE(s.bottlenecks()[1].resource == 1);
  REQUIRE(s.bottlenecks()[1].share == Approx(13));
  // Same set: same bottlenecks, nobody moves.
  REQUIRE(solve_moves(s).empty());
  // Without A, B's share of link 0 (10) exceeds link 1's (9 each for B and C): B moves to link 1.
  s.remove(va);
  REQUIRE(solve_moves(s) == Moves{{vb, 1}});
  REQUIRE(s.bottlenecks().size() == 1);
  REQUIRE(s.bottlenecks()[0].share == Approx(9));
  // A forgotten bottleneck is reported again, a new variable is reported, and B, sharing link 0
  // with D again (level 5), moves back.
  s.forget_bottleneck(vc);
  const std::uint32_t vd = s.add(a);
  Moves moved = solve_moves(s);
  std::sort(moved.begin(), moved.end());
  Moves want{{vb, 0}, {vc, 1}, {vd, 0}};
  std::sort(want.begin(), want.end());
  REQUIRE(moved == want);
  REQUIRE(s.bottlenecks()[0].share == Approx(5));
  REQUIRE(s.bottlenecks()[1].share == Approx(13));
}
