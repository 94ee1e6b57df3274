// lib/core/stop_registry.hpp: with_stop's per-worker cancellation lists.
//
// A std::stop_callback per operation costs a lock, a list insertion and
// reference counts on the token's shared state, from every worker, twice per
// read or write. Here each worker registers one std::stop_callback per
// distinct token it has seen, and keeps its operations waiting on that token
// in a slot array of its own: adding and removing an operation touch only
// this worker's memory, with no atomic operation. When the token is stopped,
// its callback pushes the token's watch onto the worker's fired list and
// wakes it; the worker then cancels every operation of that token on its own
// thread (sweep()).
//
// Every step is O(1) in the number of tokens, connections and timers: a
// token's watch is found by hashing the address of the token's shared state;
// a stop sweeps only the watches that fired; watches with no operation are
// kept in a bounded least-recently-used list and the oldest is dropped when
// it overflows (one std::stop_callback registration per token, not per
// operation, while a token stays in use).
//
// Only for backends whose completions run on the worker that started the
// operation (io_uring, epoll). IOCP completes on any worker, so with_stop
// keeps a std::stop_callback per operation there.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <unordered_map>

#include "corio/detail/cancel.hpp"

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
    if (fired_.load(std::memory_order_relaxed)) sweep();
  }

  // Tokens this worker watches now (with or without operations), for tests.
  std::size_t watched() const noexcept { return watches_.size(); }

 private:
  struct watch;
  watch* find_or_make(const std::stop_token& token) noexcept;
  void sweep() noexcept;
  void idle_push(watch& w) noexcept;
  void idle_unlink(watch& w) noexcept;
  void evict_oldest_idle() noexcept;

  backend& io_;
  const bool usable_;  // io_'s completions run on this worker only
  // Watches whose token stopped and that this worker has not swept yet,
  // pushed by stop callbacks on any thread (a lock-free stack).
  std::atomic<watch*> fired_{nullptr};
  // Every watch, by the address of its token's shared state.
  std::unordered_map<std::uintptr_t, std::unique_ptr<watch>> watches_;
  // Watches with no operation, oldest first (doubly linked through them).
  watch* idle_head_ = nullptr;
  watch* idle_tail_ = nullptr;
  std::size_t idle_count_ = 0;
};

}  // namespace corio::detail
