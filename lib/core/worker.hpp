// lib/core/worker.hpp: one worker thread of a runtime: its local run queue
// and its backend.
#pragma once

#include <atomic>
#include <coroutine>
#include <memory>
#include <source_location>
#include <thread>
#include <vector>

#include "backend/backend.hpp"
#include "core/stop_registry.hpp"

namespace corio::detail {

class runtime_impl;
class op_tracker;

class worker {
 public:
  worker(runtime_impl& rt, unsigned index, std::unique_ptr<backend> io, op_tracker* tracker)
      : rt_(rt), index_(index), io_(std::move(io)), stops_(*io_), tracker_(tracker) {
    // Room for a turn's worth of ready coroutines from the start, so the
    // queues do not grow (allocate) in steady state.
    ready_.reserve(64);
    running_.reserve(64);
  }

  // The worker the calling thread runs, or nullptr off the runtime.
  static worker* current() noexcept { return tls_current; }

  // The thread's body: runs queued coroutines and completions until stop().
  // `started` is called on the thread once the backend is attached.
  template <class F>
  void run(F&& started);
  // Any thread: asks run() to return after its current turn.
  void stop() noexcept;

  // This worker's thread only: resume `h` on a later turn of this worker.
  void schedule_local(std::coroutine_handle<> h) { ready_.push_back(h); }
  // This worker's thread only: as schedule_local, for yield(). With
  // schedule shaking on it waits in yielded_, which runs after the shuffled
  // ready batch, so a yield still lets every coroutine ready before it run.
  void schedule_yield(std::coroutine_handle<> h);
  // Any thread: resume `h` on this worker.
  void schedule(std::coroutine_handle<> h) noexcept;

  backend& io() noexcept { return *io_; }
  stop_registry& stops() noexcept { return stops_; }
  runtime_impl& rt() noexcept { return rt_; }
  unsigned index() const noexcept { return index_; }
  std::thread& thread() noexcept { return thread_; }
  // The runtime's table of operations in flight, or nullptr when it keeps
  // none (runtime_options::track_operations).
  op_tracker* tracker() const noexcept { return tracker_; }
  // This worker's thread: the co_await that the coroutine it runs last
  // passed (CORIO_TASK_TRACKING builds). Any thread: reads it.
  void note_location(const std::source_location& where) noexcept {
    location_.store(where, std::memory_order_relaxed);
  }
  std::source_location location() const noexcept {
    return location_.load(std::memory_order_relaxed);
  }

 private:
  void run_loop() noexcept;

  friend void set_current_worker(worker* w) noexcept;
  // Inline, so the I/O entry points (lib/core/io.cpp) read it without a call.
  static inline constinit thread_local worker* tls_current = nullptr;

  runtime_impl& rt_;
  unsigned index_;
  std::unique_ptr<backend> io_;
  // After io_: its stop callbacks wake io_, so it goes first.
  stop_registry stops_;
  op_tracker* tracker_;
  std::atomic<std::source_location> location_{};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  // Coroutines ready to run on this worker, in order; swapped with
  // running_ each turn so resumed coroutines can schedule more.
  std::vector<std::coroutine_handle<>> ready_;
  std::vector<std::coroutine_handle<>> running_;
  // Coroutines that yield()ed while schedule shaking is on (see schedule_yield).
  std::vector<std::coroutine_handle<>> yielded_;
};

void set_current_worker(worker* w) noexcept;
// Frees the memory the calling thread keeps for reuse (coroutine frames,
// socket cores): a worker's thread ends without thread-exit destructors.
void drain_thread_caches() noexcept;

template <class F>
void worker::run(F&& started) {
  set_current_worker(this);
  auto attached = io_->attach_thread();
  started(attached);
  if (attached) {
    run_loop();
    io_->detach_thread();
  }
  set_current_worker(nullptr);
  drain_thread_caches();
}

}  // namespace corio::detail
