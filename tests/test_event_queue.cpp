// Tests for EventQueue (sim/core/event_queue.hpp): (time, FIFO) order, the clock, past times refused, lifetimes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/event_queue.hpp"
#include "core/rng.hpp"

namespace moesim {
namespace {

// A callable that counts its live copies and its runs: not trivially destructible, so the queue
// boxes it, and every copy or move it makes must be destroyed again.
struct Tracked {
  int* live;
  int* runs;
  Tracked(int* l, int* r) : live(l), runs(r) { ++*live; }
  Tracked(const Tracked& o) : live(o.live), runs(o.runs) { ++*live; }
  Tracked(Tracked&& o) noexcept : live(o.live), runs(o.runs) { ++*live; }
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { --*live; }
  void operator()() const { ++*runs; }
};

}  // namespace

TEST_CASE("EventQueue runs events in time order, equal times in the order they were scheduled") {
  // 2000 events over only 50 distinct times (many ties), scheduled in random time order; the
  // queue must run them exactly as a stable sort by time orders them.
  Rng rng(11);
  const int n = 2000;
  std::vector<TimePs> at(n);
  for (auto& t : at) t = static_cast<TimePs>(rng.below(50)) * 1000;
  EventQueue q;
  std::vector<int> ran;
  for (int i = 0; i < n; ++i)
    q.schedule(at[static_cast<std::size_t>(i)], [&, i] {
      REQUIRE(q.now_ps() == at[static_cast<std::size_t>(i)]);  // the clock is the event's time
      ran.push_back(i);
    });
  REQUIRE(q.pending() == static_cast<std::size_t>(n));
  q.run();
  std::vector<int> want(n);
  std::iota(want.begin(), want.end(), 0);
  std::stable_sort(want.begin(), want.end(),
                   [&](int a, int b) { return at[static_cast<std::size_t>(a)] < at[static_cast<std::size_t>(b)]; });
  REQUIRE(ran == want);
  REQUIRE(q.executed() == static_cast<std::uint64_t>(n));
  REQUIRE(q.empty());
  REQUIRE(q.now_ps() == *std::max_element(at.begin(), at.end()));
}

TEST_CASE("EventQueue: time outranks scheduling order, over the whole range of times") {
  // The key packs (time, sequence) into 128 bits: a later time must lose even to a much later
  // sequence number, including times with the top bits set (up to the limit, core/units.hpp).
  const TimePs huge = kTimeLimitPs - 1;
  EventQueue q;
  std::vector<int> ran;
  q.schedule(huge, [&] { ran.push_back(0); });
  q.schedule(TimePs{1} << 60, [&] { ran.push_back(1); });
  q.schedule(TimePs{1} << 32, [&] { ran.push_back(2); });
  q.schedule(5, [&] { ran.push_back(3); });
  q.schedule(0, [&] { ran.push_back(4); });
  q.schedule(TimePs{1} << 32, [&] { ran.push_back(5); });
  q.run();
  REQUIRE(ran == std::vector<int>{4, 3, 2, 5, 1, 0});
  REQUIRE(q.now_ps() == huge);
}

TEST_CASE("EventQueue: an event scheduled for now from inside an event runs after those already queued for now") {
  EventQueue q;
  std::vector<std::string> ran;
  q.schedule(10, [&] {
    ran.push_back("a");
    q.schedule(q.now_ps(), [&] { ran.push_back("a-now"); });
    q.schedule_in(0, [&] { ran.push_back("a-in-0"); });
  });
  q.schedule(10, [&] { ran.push_back("b"); });
  q.schedule(11, [&] { ran.push_back("c"); });
  q.run();
  REQUIRE(ran == std::vector<std::string>{"a", "b", "a-now", "a-in-0", "c"});
}

TEST_CASE("EventQueue: step, run, the clock and the counters") {
  EventQueue q;
  REQUIRE(q.empty());
  REQUIRE(q.pending() == 0);
  REQUIRE_FALSE(q.step());  // nothing to do: the clock stays
  REQUIRE(q.now_ps() == 0);
  REQUIRE(q.executed() == 0);

  int runs = 0;
  q.schedule(300, [&] { ++runs; });
  q.schedule(100, [&] { ++runs; });
  REQUIRE(q.pending() == 2);
  REQUIRE(q.now_ps() == 0);  // scheduling does not move the clock
  REQUIRE(q.step());
  REQUIRE(q.now_ps() == 100);
  REQUIRE(runs == 1);
  REQUIRE(q.pending() == 1);
  REQUIRE(q.executed() == 1);
  // schedule_in is relative to now: 100 + 50 = 150, before the event at 300.
  TimePs seen = -1;
  q.schedule_in(50, [&] { seen = q.now_ps(); });
  REQUIRE(q.step());
  REQUIRE(seen == 150);
  REQUIRE(q.step());
  REQUIRE(q.now_ps() == 300);
  REQUIRE_FALSE(q.step());
  REQUIRE(q.now_ps() == 300);  // an empty step leaves the clock where the last event put it
  REQUIRE(q.executed() == 3);
  REQUIRE(runs == 2);

  // Events may be scheduled again after run() drained the queue; the clock goes on from 300.
  q.schedule(300, [&] { ++runs; });  // exactly now is allowed
  q.schedule_in(7, [&] { ++runs; });
  q.run();
  REQUIRE(q.now_ps() == 307);
  REQUIRE(runs == 4);
  REQUIRE(q.executed() == 5);
}

TEST_CASE("EventQueue: scheduling before now is an error naming both times, and changes nothing") {
  EventQueue q;
  int runs = 0;
  q.schedule(2500, [&] { ++runs; });
  q.run();
  REQUIRE(q.now_ps() == 2500);
  q.schedule(4000, [&] { ++runs; });

  auto token = std::make_shared<int>(0);
  try {
    q.schedule(2499, [&runs, token] { ++runs; });  // boxed (a shared_ptr capture): must not leak
    FAIL("schedule in the past did not throw");
  } catch (const Error& e) {
    const std::string what = e.what();
    INFO(what);
    REQUIRE(what.find("2499 ps") != std::string::npos);
    REQUIRE(what.find("2500 ps") != std::string::npos);
  }
  REQUIRE_THROWS_AS(q.schedule_in(-1, [&] { ++runs; }), Error);
  REQUIRE(token.use_count() == 1);
  REQUIRE(q.pending() == 1);  // only the event at 4000
  q.run();
  REQUIRE(runs == 2);
  REQUIRE(q.now_ps() == 4000);

  // Before anything has run, now is 0 and a negative time is in the past too.
  EventQueue fresh;
  REQUIRE_THROWS_AS(fresh.schedule(-1, [] {}), Error);
  REQUIRE(fresh.empty());
}

TEST_CASE("EventQueue destroys queued actions without running them, and frees them") {
  int live = 0, runs = 0;
  auto token = std::make_shared<int>(0);
  int inline_runs = 0;
  {
    EventQueue q;
    for (int i = 0; i < 100; ++i) {
      q.schedule(i, Tracked(&live, &runs));                       // boxed: counted copies
      q.schedule(i, [token, &runs] { ++runs; });                  // boxed: holds a reference count
      q.schedule(i, [p = &inline_runs] { ++*p; });                // stored in place
      q.schedule(i, std::function<void()>([&runs] { ++runs; }));  // boxed: owns a heap callable
    }
    REQUIRE(live == 100);
    REQUIRE(token.use_count() == 101);
    // Run the first 10 times (40 events), leave 360 queued.
    for (int i = 0; i < 40; ++i) REQUIRE(q.step());
    REQUIRE(runs == 30);
    REQUIRE(inline_runs == 10);
    REQUIRE(live == 90);
    REQUIRE(token.use_count() == 91);
  }
  REQUIRE(live == 0);   // every queued Tracked destroyed ...
  REQUIRE(runs == 30);  // ... none of them run
  REQUIRE(inline_runs == 10);
  REQUIRE(token.use_count() == 1);  // every captured copy released
}

TEST_CASE("EventQueue runs large and move-only actions exactly once and frees them") {
  int live = 0, runs = 0;
  EventQueue q;
  std::array<std::int64_t, 16> big{};  // 128 bytes: over the 48-byte inline slot
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::int64_t>(i);
  std::int64_t big_sum = 0;
  q.schedule(1, [big, &big_sum] {
    for (auto v : big) big_sum += v;
  });
  auto owned = std::make_unique<int>(41);
  int seen = 0;
  q.schedule(2, [p = std::move(owned), &seen] { seen = *p + 1; });
  q.schedule(3, Tracked(&live, &runs));
  const std::string text(200, 'x');
  std::size_t text_len = 0;
  q.schedule(4, [text, &text_len] { text_len = text.size(); });
  q.run();
  REQUIRE(big_sum == 120);  // 0 + 1 + ... + 15 = 15 * 16 / 2
  REQUIRE(seen == 42);
  REQUIRE(runs == 1);
  REQUIRE(live == 0);
  REQUIRE(text_len == 200);
}

TEST_CASE("EventQueue: an action may schedule many events while it runs (the slab grows under it)") {
  // The running action's captures live in a slot of the slab; scheduling 1000 events from inside
  // it reallocates the slab, and the action must still read its own captures afterwards.
  EventQueue q;
  struct Out {
    std::int64_t sum = 0;
    int children = 0;
  } out;
  std::int64_t a = 1, b = 2, c = 3, d = 4;
  auto parent = [&q, &out, a, b, c, d] {
    for (int i = 0; i < 1000; ++i) q.schedule(i, [&out] { ++out.children; });
    out.sum = a + b + c + d;
  };
  // Two pointers and four 8-byte integers: 48 bytes, trivially copyable, so stored in place.
  static_assert(sizeof(parent) == 48 && std::is_trivially_copyable_v<decltype(parent)>);
  q.schedule(0, parent);
  q.run();
  REQUIRE(out.sum == 10);  // 1 + 2 + 3 + 4
  REQUIRE(out.children == 1000);
  REQUIRE(q.executed() == 1001);
}

TEST_CASE("EventQueue: an action that throws is freed, and the queue goes on") {
  EventQueue q;
  auto token = std::make_shared<int>(0);
  int runs = 0;
  q.schedule(1, [token] { throw std::runtime_error("boom"); });
  q.schedule(2, [&] { ++runs; });
  REQUIRE(token.use_count() == 2);
  REQUIRE_THROWS_WITH(q.run(), "boom");
  REQUIRE(token.use_count() == 1);
  REQUIRE(q.now_ps() == 1);
  REQUIRE(q.pending() == 1);
  q.run();
  REQUIRE(runs == 1);
  REQUIRE(q.now_ps() == 2);
}

}  // namespace moesim
