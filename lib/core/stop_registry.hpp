// lib/core/stop_registry.hpp: with_stop's per-worker cancellation lists.
//
// A std::stop_callback per operation costs a lock, a list insertion and
// reference counts on the token's shared state, from every worker, twice per
// read or write. Here each worker registers one std::stop_callback per
// distinct token it has seen, and keeps its operations waiting on that token
// in a slot array of its own: adding and removing an operation touch only
// this worker's memory, with no atomic operation. When the token is stopped,
// its callback flags the worker and wakes it; the worker then cancels every
// operation of that token on its own thread (sweep()).
//
// Only for backends whose completions run on the worker that started the
// operation (io_uring, epoll). IOCP completes on any worker, so with_stop
// keeps a std::stop_callback per operation there.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <vector>

#include "corio/cancel.hpp"

namespace corio::detail {

class backend;

class stop_registry {
 public:
  explicit stop_registry(backend& io) noexcept;
  ~stop_registry();
  stop_registry(const stop_registry&) = delete;
  stop_registry& operator=(const stop_registry&) = delete;

  // Worker thread: cancels `op` through this worker's backend once `token`
  // is stopped, until remove(link). False when it cannot be tracked here
  // (a backend whose completions run on any worker; out of memory): the
  // caller then uses a std::stop_callback.
  bool add(const std::stop_token& token, operation& op, stop_link& link) noexcept;
  // Worker thread: `link`'s operation completed.
  static void remove(stop_link& link) noexcept;
  // Worker thread, once per turn: cancels the operations of every token
  // stopped since the last turn.
  void sweep_if_stopped() noexcept {
    if (stopped_.load(std::memory_order_relaxed)) sweep();
  }

 private:
  struct watch;
  watch* find_or_make(const std::stop_token& token) noexcept;
  void sweep() noexcept;

  backend& io_;
  const bool usable_;  // io_'s completions run on this worker only
  // Set by a stop callback on any thread; the worker reads it each turn.
  std::atomic<bool> stopped_{false};
  std::vector<std::unique_ptr<watch>> watches_;
};

}  // namespace corio::detail
