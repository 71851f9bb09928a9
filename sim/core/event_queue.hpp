#pragma once
// Discrete-event core: events ordered by (time, insertion sequence), so equal-time events run in
// the order they were scheduled and every run is deterministic. Actions live in a slab of
// fixed-size slots (no allocation per event for small callables); the heap orders 24-byte keys.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/min_heap.hpp"
#include "core/units.hpp"

namespace moesim {

class EventQueue {
 public:
  EventQueue() = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;
  ~EventQueue() {
    for (const Key& k : heap_) slots_[k.slot].destroy();
  }

  // Schedules `action` (any callable taking no arguments) at absolute time `at_ps`. A time
  // before now is a caller's bug: it throws Error; a time at or past kTimeLimitPs throws
  // TimeLimitError (the queue and the action are left untouched either way).
  template <class F>
  void schedule(TimePs at_ps, F&& action) {
    if (at_ps < now_ps_ || at_ps >= kTimeLimitPs) [[unlikely]]
      throw_bad_time(at_ps);
    std::uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    slots_[slot].set(std::forward<F>(action));
    heap_push(heap_, Key{at_ps, next_seq_++, slot}, Earlier{});
  }
  template <class F>
  void schedule_in(TimePs delay_ps, F&& action) {
    schedule(now_ps_ + delay_ps, std::forward<F>(action));
  }

  // Runs one event; returns false when the queue is empty.
  bool step() {
    if (heap_.empty()) return false;
    const Key k = heap_.front();
    heap_pop(heap_, Earlier{});
    now_ps_ = k.at_ps;
    ++executed_;
    // Move the action out of its slot first: it may schedule more events (and grow the slab).
    Slot action = slots_[k.slot];
    free_.push_back(k.slot);
    action.run();
    return true;
  }

  void run() {
    while (step()) {}
  }

  TimePs now_ps() const { return now_ps_; }
  bool empty() const { return heap_.empty(); }
  std::size_t pending() const { return heap_.size(); }
  std::uint64_t executed() const { return executed_; }

 private:
  [[noreturn, gnu::cold, gnu::noinline]] void throw_bad_time(TimePs at_ps) const {
    if (at_ps >= kTimeLimitPs)
      throw TimeLimitError("an event would pass the limit of simulated time (2^61 ps, about 26.7 days); now " +
                           std::to_string(static_cast<double>(now_ps_) * 1e-12) + " s");
    throw Error("event queue: an event scheduled at " + std::to_string(at_ps) + " ps, before now (" +
                std::to_string(now_ps_) + " ps)");
  }

  // A type-erased callable in 48 inline bytes. Trivially copyable callables that fit are stored
  // in place; anything else is boxed on the heap and the slot holds the pointer. A Slot is a
  // plain byte copy either way, so the slab can grow by memcpy.
  struct Slot {
    static constexpr std::size_t kBytes = 48;
    alignas(std::max_align_t) unsigned char buf[kBytes];
    void (*invoke)(void*, bool run) = nullptr;  // run == false: destroy without running

    template <class F>
    void set(F&& f) {
      using Fn = std::decay_t<F>;
      if constexpr (sizeof(Fn) <= kBytes && alignof(Fn) <= alignof(std::max_align_t) &&
                    std::is_trivially_copyable_v<Fn> && std::is_trivially_destructible_v<Fn>) {
        ::new (static_cast<void*>(buf)) Fn(std::forward<F>(f));
        invoke = [](void* p, bool run) {
          if (run) (*std::launder(static_cast<Fn*>(p)))();
        };
      } else {
        Fn* boxed = new Fn(std::forward<F>(f));
        std::memcpy(buf, &boxed, sizeof boxed);
        invoke = [](void* p, bool run) {
          Fn* b = nullptr;
          std::memcpy(&b, p, sizeof b);
          std::unique_ptr<Fn> owner(b);  // freed even if the action throws
          if (run) (*b)();
        };
      }
    }
    void run() { invoke(buf, true); }
    void destroy() { invoke(buf, false); }
  };
  static_assert(std::is_trivially_copyable_v<Slot>);

  struct Key {
    TimePs at_ps;
    std::uint64_t seq;
    std::uint32_t slot;
  };
  struct Earlier {  // branch-free (see min_heap.hpp): event times come in no predictable order
    // (time, sequence) as one 128-bit number (times are never negative): a compare and a
    // subtract-with-borrow.
    __extension__ using Order = unsigned __int128;
    static Order order(const Key& k) { return static_cast<Order>(static_cast<std::uint64_t>(k.at_ps)) << 64 | k.seq; }
    bool operator()(const Key& a, const Key& b) const { return order(a) < order(b); }
  };
  std::vector<Key> heap_;  // min-heap by (time, sequence)
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  TimePs now_ps_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t executed_ = 0;
};

}  // namespace moesim
