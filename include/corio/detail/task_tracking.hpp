// corio/detail/task_tracking.hpp: where each corio::task waits, for
// runtime::dump() and the stall detector. Compiled in only when the library
// is built with CORIO_TASK_TRACKING=ON (a public compile definition, so the
// library and everything built against it agree); otherwise task frames
// carry nothing and co_await is untouched: zero cost.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <source_location>
#include <type_traits>
#include <utility>

#ifndef CORIO_TASK_TRACKING
#define CORIO_TASK_TRACKING 0
#endif

namespace corio::detail {

struct task_record;

// Implemented in lib/core/task_registry.cpp (present in every build; with
// tracking off nothing calls them).
void register_task(task_record& r) noexcept;
void unregister_task(task_record& r) noexcept;
std::int64_t tracking_now_ns() noexcept;
// Tells the calling worker (if any) which co_await its coroutine last passed.
void note_location(const std::source_location& where) noexcept;

/// One task frame in the process-wide registry: where it last awaited, and
/// whether it is suspended there. Written by whichever thread runs the
/// task, read by dump() on any thread (relaxed atomics: a dump is a recent
/// picture, not one instant).
struct task_record {
  task_record* prev = nullptr;  // the registry's list, under its lock
  task_record* next = nullptr;
  std::atomic<std::source_location> where{};
  std::atomic<std::int64_t> since_ns{0};
  std::atomic<bool> suspended{false};

  task_record() noexcept {
    since_ns.store(tracking_now_ns(), std::memory_order_relaxed);
    register_task(*this);
  }
  ~task_record() { unregister_task(*this); }
  task_record(const task_record&) = delete;
  task_record& operator=(const task_record&) = delete;

  void at(const std::source_location& loc, bool is_suspended) noexcept {
    where.store(loc, std::memory_order_relaxed);
    since_ns.store(tracking_now_ns(), std::memory_order_relaxed);
    suspended.store(is_suspended, std::memory_order_relaxed);
  }
};

// The awaiter that co_await uses for `a`: its operator co_await's result,
// or `a` itself (by reference: a co_await's operand lives until the end of
// its full expression, across the suspension).
template <class A>
decltype(auto) awaiter_of(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else if constexpr (requires { operator co_await(std::forward<A>(a)); }) {
    return operator co_await(std::forward<A>(a));
  } else {
    return std::forward<A>(a);
  }
}

// Wraps an awaiter: records the co_await's location in the task's record
// as it suspends and resumes, and otherwise forwards every call.
template <class Aw>
struct tracked_awaiter {
  Aw aw;  // the awaiter, or a reference to the operand that is its own
  task_record* record;
  std::source_location where;

  bool await_ready() { return aw.await_ready(); }
  template <class P>
  decltype(auto) await_suspend(std::coroutine_handle<P> h) {
    // Before the call: once it has suspended, another thread may resume
    // the task (and end it) at any moment.
    record->at(where, true);
    return aw.await_suspend(h);
  }
  decltype(auto) await_resume() {
    record->at(where, false);
    note_location(where);
    return aw.await_resume();
  }
};

/// What a task's promise holds in a tracking build: its record, and the
/// await_transform that captures each co_await's location.
struct task_tracking {
  task_record tracking;

  template <class A>
  auto await_transform(A&& a, std::source_location where = std::source_location::current()) {
    using aw_t = decltype(awaiter_of(std::forward<A>(a)));
    return tracked_awaiter<aw_t>{awaiter_of(std::forward<A>(a)), &tracking, where};
  }
};

/// Nothing, in a build without tracking.
struct no_task_tracking {};

using task_tracking_base = std::conditional_t<CORIO_TASK_TRACKING, task_tracking, no_task_tracking>;

}  // namespace corio::detail
