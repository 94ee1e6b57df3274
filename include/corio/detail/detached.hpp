// corio/detail/detached.hpp: a coroutine that nobody awaits. The runtime
// starts it; it frees its own frame when it ends.
#pragma once

#include <coroutine>
#include <exception>

#include "corio/detail/frame_cache.hpp"

namespace corio::detail {

struct detached {
  struct promise_type : cached_frame {
    detached get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    // Bodies catch everything themselves; reaching here is a corio bug.
    void unhandled_exception() const noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

/// Runs `h` on the calling worker's run queue (`local`) or on the next
/// worker of its runtime in round-robin order. Only on a worker thread
/// (see on_worker).
void schedule_local(std::coroutine_handle<> h) noexcept;
// yield(): as schedule_local, and after every coroutine that was ready
// before it, even when schedule shaking reorders the ready ones.
void schedule_yield(std::coroutine_handle<> h) noexcept;
void schedule_anywhere(std::coroutine_handle<> h) noexcept;

/// True when the calling thread is a worker of any corio runtime.
bool on_worker() noexcept;

/// The calling worker's backend (opaque), or nullptr off a runtime. Sync
/// primitives record it for each waiter, to resume the waiter where it ran.
void* current_backend() noexcept;

/// Any thread: resumes `h` on the worker whose backend is `owner` (on the
/// calling worker's run queue if that is the one; otherwise through the
/// backend's cross-thread wake-up; on IOCP, whose workers share one port,
/// on whichever worker dequeues it). Never resumes inline.
void resume_on(void* owner, std::coroutine_handle<> h) noexcept;

}  // namespace corio::detail
