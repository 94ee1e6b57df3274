// lib/backend/timer_heap.hpp: timers in user space, for the backends whose
// kernel timer would cost more than the wait it bounds (io_uring's timeout
// cancel walks every pending timeout; epoll has none). A binary min-heap on
// deadline, first-come first-served among equal deadlines; arming and
// cancelling are O(log n) and allocate nothing once the heap has grown to
// its working size. Owned by one worker thread (uring, epoll), or kept
// under a lock shared by the workers (IOCP's timer_queue).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/fault.hpp"
#include "corio/detail/operation.hpp"

namespace corio::detail {

// Where an operation sits in the heap is kept in op.place.timer_index, so
// a cancel finds it without a search.
class timer_heap {
 public:
  // Queues `op`, due at op.args.deadline_ns. False when the heap cannot
  // grow (out of memory, or past what a timer_index holds): the caller
  // fails the operation at once.
  bool push(operation& op) noexcept {
    if (heap_.size() >= UINT32_MAX || fault_hit(fault_site::timer_alloc)) return false;
    try {
      heap_.push_back({op.args.deadline_ns, next_seq_++, &op});
    } catch (...) {
      return false;
    }
    sift_up(heap_.size() - 1);
    return true;
  }
  // True if `op` is the timer at `index` (it has not fired or been removed).
  bool holds(std::size_t index, const operation& op) const noexcept {
    return index < heap_.size() && heap_[index].op == &op;
  }
  void remove(std::size_t index) noexcept {
    const entry last = heap_.back();
    heap_.pop_back();
    if (index == heap_.size()) return;
    // The last entry fills the hole, then moves whichever way it belongs.
    place(index, last);
    sift_down(index);
    sift_up(index);
  }
  // Removes every timer due at `now_ns` and hands it to `expired(op)`.
  template <class F>
  void expire(std::int64_t now_ns, F&& expired) noexcept {
    while (!heap_.empty() && heap_.front().deadline_ns <= now_ns) {
      operation* op = heap_.front().op;
      remove(0);
      expired(*op);
    }
  }
  // Nanoseconds until the earliest deadline (0 if due), or -1 with none.
  // Any deadline works, time_point::min() and max() included: the
  // difference is taken only when it cannot overflow.
  std::int64_t time_to_next(std::int64_t now_ns) const noexcept {
    if (heap_.empty()) return -1;
    const std::int64_t due = heap_.front().deadline_ns;
    if (due <= now_ns) return 0;
    return due - now_ns;  // due > now_ns >= 0 (the steady clock counts from boot): no overflow
  }
  // The earliest deadline, or `none` with no timer.
  std::int64_t next_deadline_or(std::int64_t none) const noexcept {
    return heap_.empty() ? none : heap_.front().deadline_ns;
  }
  // True if `op` is the earliest timer.
  bool is_first(const operation& op) const noexcept { return holds(0, op); }

  // CLOCK_MONOTONIC, the clock of a timer operation's deadline_ns.
  static std::int64_t now() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  struct entry {
    std::int64_t deadline_ns;
    std::uint64_t seq;  // arrival order, so equal deadlines fire first-come first-served
    operation* op;
  };
  static bool before(const entry& a, const entry& b) noexcept {
    return a.deadline_ns != b.deadline_ns ? a.deadline_ns < b.deadline_ns : a.seq < b.seq;
  }
  void place(std::size_t i, entry e) noexcept {
    heap_[i] = e;
    e.op->place.timer_index = static_cast<std::uint32_t>(i);
  }
  void sift_up(std::size_t i) noexcept {
    const entry e = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!before(e, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void sift_down(std::size_t i) noexcept {
    const entry e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], e)) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, e);
  }

  std::vector<entry> heap_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace corio::detail
