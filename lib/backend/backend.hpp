// lib/backend/backend.hpp: the contract that every backend (io_uring,
// epoll, IOCP) implements, once per worker.
//
// A worker thread owns one backend object and calls it from that thread
// only, except for post() and wake(), which any thread may call. Operations
// are plain structs in the awaiting coroutine's frame (see
// corio/detail/operation.hpp); a backend finds one from its completion by one
// cast, never a lookup, and allocates nothing per operation.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/counters.hpp"
#include "corio/detail/io.hpp"
#include "corio/result.hpp"

namespace corio::detail {

class backend {
 public:
  virtual ~backend() = default;

  // Called once on the worker thread before anything else (io_uring makes
  // that thread the ring's single issuer). A failure stops the runtime's
  // creation with that error.
  virtual result<void> attach_thread() noexcept { return {}; }
  // Called once on the worker thread after its loop ended, the backend's
  // last call from it (io_uring hands the kernel what the last turn queued).
  virtual void detach_thread() noexcept {}

  // Starts `op` (its code and arguments set) for the coroutine in
  // `op.waiter`: one switch over op.code, one case per operation. Returns
  // true when it is in flight: later, on a worker, the backend sets `op.res`
  // and calls `op.complete(&op)` exactly once (the awaiter chose
  // `op.complete`; the backend never changes it, and keeps its own record
  // in `op.state` and `op.place`). Returns false when it finished now
  // (success inline, or a post that failed: lesson 2) with `op.res` set;
  // then `op.complete` is never called.
  // Results: bytes (or the accepted descriptor on POSIX) >= 0; errors as
  // negated errno values on Linux (see error_from_result per OS). A timer
  // completes with res 0 when the steady clock reaches its deadline; a
  // wait_readable completes when data or the end of the stream can be read
  // (or an error is pending), holding no buffer while it waits.
  virtual bool start(operation& op) noexcept = 0;

  // Asks that `op`, started by this backend and not yet completed, finish
  // early: its completion then comes as usual through op.complete, with
  // res = -ECANCELED (IOCP: the equivalent) if the cancel won the race, or
  // its real result if the operation had already finished in the kernel.
  // Never completes op inline. Where cancel_from_any_thread() is false the
  // core calls it only on the worker that started op, while op is in
  // flight; otherwise it may come from any thread while op's coroutine has
  // not yet resumed, and must then be harmless for an operation that has
  // just completed (or, for timers, was never started).
  virtual void cancel(operation& op) noexcept = 0;
  virtual bool cancel_from_any_thread() const noexcept { return false; }

  // Runs the completions that are ready. With `block`, first waits until at
  // least one completion, post or wake arrives.
  virtual void poll(bool block) noexcept = 0;
  // Any thread: makes `h` resume on this backend's worker (on IOCP, on any
  // worker of the runtime). Never fails: a backend whose native post can
  // fail keeps the handle in a fallback queue instead of losing it.
  virtual void post(std::coroutine_handle<> h) noexcept = 0;
  // Any thread: makes a blocked poll() return soon.
  virtual void wake() noexcept = 0;

  // Any thread: operations started here and not yet completed (for tests
  // and shutdown). On IOCP a completion may come on another worker, so one
  // worker's value can be negative; the runtime's sum is exact.
  std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  // This worker's counters (core/counters.hpp): written by the worker's
  // thread only (the backend counts completions, kernel entries and posts
  // received; the core counts the rest), read by runtime::metrics().
  worker_counters counts;

 protected:
  // This worker's thread only: an operation started here (+1) or completed
  // here (-1). The only writer, so a load and a store (no
  // read-modify-write) keep the count exact; other threads only read it.
  void count_in_flight(std::int64_t by) noexcept {
    in_flight_.store(in_flight_.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> in_flight_{0};
};

using backend_set = std::vector<std::unique_ptr<backend>>;

// Each factory makes one backend per worker, or says why it cannot (for
// io_uring: setup refused with ENOSYS, EPERM or ENOMEM, or an operation
// corio needs is missing: the runtime then falls back to epoll).
result<backend_set> make_uring_backends(unsigned count);
result<backend_set> make_epoll_backends(unsigned count);
result<backend_set> make_iocp_backends(unsigned count);

// Any thread: socket_closer calls forget_socket just before it closes
// `s.handle` and frees `s` (no operation on `s` may be in flight then). A
// backend that keeps something in the socket_core that could outlive the
// close (epoll: registrations that an event batch being processed on some
// worker may still name) installs `socket_forgetter` when it is made, to
// drop that; io_uring and IOCP keep nothing of the kind and install nothing.
inline std::atomic<void (*)(socket_core&) noexcept> socket_forgetter{nullptr};
inline void forget_socket(socket_core& s) noexcept {
  if (auto* forget = socket_forgetter.load(std::memory_order_acquire)) forget(s);
}

// Failures can be injected below this contract, at the sites of
// corio/testing.hpp (lib/core/fault.hpp has the check each site makes):
// every backend must turn each one into an error or a retry, never a hang.

}  // namespace corio::detail
