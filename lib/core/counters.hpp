// lib/core/counters.hpp: one worker's counters (runtime::metrics()).
//
// Each worker owns one worker_counters, in its backend. Only the owning
// worker's thread writes it, with a relaxed load and a relaxed store (no
// read-modify-write, no lock, no fence: as cheap as a plain increment);
// any thread reads it with relaxed loads, so a snapshot is each counter's
// value at some recent moment, not one instant across all of them. The
// struct is cache-line aligned, so no two workers' counters share a line.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "corio/detail/operation.hpp"
#include "corio/metrics.hpp"

namespace corio::detail {

// The plain counters and gauges are corio::worker_counts, the struct the
// snapshot (worker_metrics) copies them into: one list for both
// (lib/core/metrics.cpp reads, sums and prints them through one table of
// its members). The rest are kept here only.
struct alignas(64) worker_counters : worker_counts {
  // Operations handed to the backend (detail::start) are counted per kind
  // in `started` below; `inline_completions` are those that finished at
  // once (start returned false), `completions` those completed through the
  // loop (a CQE, an event, a packet, a timer). `turns` + `wakeups` is what
  // the stall detector watches move.

  // Gauges, stored rather than counted.
  std::uint64_t waiting = 0;    // 1 while blocked in the backend
  std::uint64_t start_ns = 0;   // steady clock when the loop began
  std::uint64_t cpu_clock = 0;  // the worker thread's CPU clock (sys/thread_clock.hpp); 0: none
  // Per op_code: operations started here, and operations that finished
  // here (at once, or completed later). Their difference, summed over the
  // workers, is what is in flight (on IOCP a completion may come on
  // another worker than its start).
  std::uint64_t started[op_code_count] = {};
  std::uint64_t completed[op_code_count] = {};
};

// Sockets open in the process (made minus closed): per socket, not per
// operation, so a shared read-modify-write is fine here.
inline std::atomic<std::int64_t> sockets_open{0};

// Owner thread only: adds `n` to `c` (see the note above).
inline void bump(std::uint64_t& c, std::uint64_t n = 1) noexcept {
  std::atomic_ref<std::uint64_t> r(c);
  r.store(r.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
// Owner thread only: sets a gauge.
inline void set_gauge(std::uint64_t& c, std::uint64_t v) noexcept {
  std::atomic_ref<std::uint64_t>(c).store(v, std::memory_order_relaxed);
}
// Any thread.
inline std::uint64_t read_counter(const std::uint64_t& c) noexcept {
  // The counter itself is never const (it lives in a backend); only this view is.
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(c)).load(std::memory_order_relaxed);
}

// A backend's blocking wait in the kernel, as the counters see it: the
// `waiting` gauge is 1 while it lasts (the stall detector leaves a waiting
// worker alone) and its end counts a wake-up. No clock is read: the time
// split comes from the thread's CPU clock, read by runtime::metrics().
class blocked_wait {
 public:
  /// `counted` false: a wait that cannot block (a zero timeout), not counted.
  explicit blocked_wait(worker_counters& c, bool counted = true) noexcept
      : c_(counted ? &c : nullptr) {
    if (c_) set_gauge(c_->waiting, 1);
  }
  ~blocked_wait() { end(); }
  blocked_wait(const blocked_wait&) = delete;
  blocked_wait& operator=(const blocked_wait&) = delete;

  /// The wait is over (the destructor does it too; only the first counts).
  void end() noexcept {
    if (!c_) return;
    set_gauge(c_->waiting, 0);
    bump(c_->wakeups);
    c_ = nullptr;
  }

 private:
  worker_counters* c_;
};

// The bytes an operation with result `res` moved, counted where it finished.
inline void count_bytes(worker_counters& c, op_code code, std::int64_t res) noexcept {
  if (res <= 0) return;
  if (code == op_code::recv || code == op_code::recv_pooled) {
    bump(c.bytes_read, static_cast<std::uint64_t>(res));
  } else if (code == op_code::send || code == op_code::send_vectored) {
    bump(c.bytes_written, static_cast<std::uint64_t>(res));
  }
}

// A backend calls this as it completes `op` (res set), before op.complete.
inline void count_completion(worker_counters& c, const operation& op) noexcept {
  bump(c.completions);
  bump(c.completed[static_cast<std::size_t>(op.code)]);
  count_bytes(c, op.code, op.res);
}

}  // namespace corio::detail
