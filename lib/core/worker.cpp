// lib/core/worker.cpp: the worker loop.
#include "core/worker.hpp"

#include <chrono>

#include "core/read_pool.hpp"
#include "core/runtime_impl.hpp"
#include "core/shuffle.hpp"
#include "corio/detail/frame_cache.hpp"
#include "corio/detail/task_tracking.hpp"
#include "sys/socket.hpp"
#include "sys/thread_clock.hpp"

namespace corio::detail {

void set_current_worker(worker* w) noexcept { worker::tls_current = w; }

void drain_thread_caches() noexcept {
  drain_frame_cache();
  sys::drain_core_cache();
  drain_read_pool();
}

void worker::stop() noexcept {
  stopping_.store(true, std::memory_order_release);
  io_->wake();
}

void worker::schedule(std::coroutine_handle<> h) noexcept {
  if (tls_current == this) {
    ready_.push_back(h);
  } else {
    io_->post(h);
  }
}

void worker::run_loop() noexcept {
  worker_counters& c = io_->counts;
  set_gauge(c.start_ns, static_cast<std::uint64_t>(
                            std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count()));
  set_gauge(c.cpu_clock, sys::current_thread_clock());
  while (!stopping_.load(std::memory_order_acquire)) {
    bump(c.turns);
    set_gauge(c.ready_queue, ready_.size());
    // Run what was ready at the start of this turn; what those coroutines
    // schedule waits for the next turn, after I/O has been polled, so a
    // coroutine that keeps yielding cannot starve completions.
    running_.swap(ready_);
    shuffle_batch(running_.data(), running_.size());
    if (!yielded_.empty()) [[unlikely]] {
      shuffle_batch(yielded_.data(), yielded_.size());
      running_.insert(running_.end(), yielded_.begin(), yielded_.end());
      yielded_.clear();
    }
    for (auto h : running_) {
#if CORIO_TASK_TRACKING
      // A coroutine resumed from here (a new task, a yield) may not pass
      // a co_await before it runs long: forget the previous one's location.
      note_location(std::source_location{});
#endif
      h.resume();
    }
    running_.clear();
    stops_.sweep_if_stopped();
    // Plain reads: this thread is the only writer.
    const std::uint64_t before = c.completions + c.posts_received;
    io_->poll(ready_.empty() && yielded_.empty());
    if (c.completions + c.posts_received == before) bump(c.empty_polls);
  }
  const auto clock = static_cast<std::uintptr_t>(c.cpu_clock);
  set_gauge(c.cpu_clock, 0);
  sys::release_thread_clock(clock);
}

void note_location(const std::source_location& where) noexcept {
  if (auto* w = worker::current()) w->note_location(where);
}

bool on_worker() noexcept { return worker::current() != nullptr; }

void* current_backend() noexcept {
  auto* w = worker::current();
  return w ? &w->io() : nullptr;
}

void resume_on(void* owner, std::coroutine_handle<> h) noexcept {
  auto* w = worker::current();
  if (w && &w->io() == owner) {
    w->schedule_local(h);
  } else {
    static_cast<backend*>(owner)->post(h);
  }
}

void schedule_local(std::coroutine_handle<> h) noexcept { worker::current()->schedule_local(h); }

void worker::schedule_yield(std::coroutine_handle<> h) {
  if (shuffling()) [[unlikely]] {
    yielded_.push_back(h);
  } else {
    ready_.push_back(h);
  }
}

void schedule_yield(std::coroutine_handle<> h) noexcept { worker::current()->schedule_yield(h); }

void schedule_anywhere(std::coroutine_handle<> h) noexcept {
  worker::current()->rt().next_worker().schedule(h);
}

}  // namespace corio::detail
