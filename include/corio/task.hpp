// corio/task.hpp: the lazy coroutine type that every corio function returns.
#pragma once

#include <coroutine>
#include <exception>
#include <utility>
#include <variant>

#include "corio/detail/frame_cache.hpp"
#include "corio/detail/task_tracking.hpp"

namespace corio {

template <class T = void>
class task;

namespace detail {

// Resumes whoever awaited the task, by symmetric transfer: a long chain of
// tasks that complete synchronously runs in constant stack depth.
struct final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
    return h.promise().continuation;
  }
  void await_resume() const noexcept {}
};

// task_tracking_base: empty, unless built with CORIO_TASK_TRACKING (then
// each co_await's location is recorded for runtime::dump()).
struct promise_base : cached_frame, task_tracking_base {
  // Who to resume when this task finishes; a no-op handle until awaited.
  std::coroutine_handle<> continuation = std::noop_coroutine();

  std::suspend_always initial_suspend() const noexcept { return {}; }
  final_awaiter final_suspend() const noexcept { return {}; }
};

template <class T>
struct promise : promise_base {
  // Empty until the body returns or throws.
  std::variant<std::monostate, T, std::exception_ptr> outcome;

  task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    outcome.template emplace<1>(std::forward<U>(v));
  }
  void unhandled_exception() noexcept { outcome.template emplace<2>(std::current_exception()); }

  T take() {
    if (outcome.index() == 2) std::rethrow_exception(std::get<2>(outcome));
    return std::move(std::get<1>(outcome));
  }
};

template <>
struct promise<void> : promise_base {
  std::exception_ptr error;  // set when the body throws

  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void unhandled_exception() noexcept { error = std::current_exception(); }

  void take() const {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

/// A lazy, move-only coroutine. Nothing runs until the task is awaited (or
/// handed to runtime::block_on or scope::spawn). `co_await t` runs it and
/// yields its value, or rethrows the exception that escaped its body. The
/// awaiter resumes on whichever thread the task finished on. Destroying a
/// task that was never started frees its frame and runs nothing.
template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::promise<T>;
  using value_type = T;
  using handle_type = std::coroutine_handle<promise_type>;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : h_(h) {}
  task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~task() {
    if (h_) h_.destroy();
  }

  /// True when this task holds a coroutine (not moved from, not default).
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }

  auto operator co_await() && noexcept {
    struct awaiter {
      handle_type h;
      bool await_ready() const noexcept { return !h; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
        h.promise().continuation = caller;
        return h;
      }
      T await_resume() { return h.promise().take(); }
    };
    return awaiter{h_};
  }

  /// Gives up ownership of the frame (for runtime internals that run it).
  handle_type release() noexcept { return std::exchange(h_, {}); }

 private:
  handle_type h_;
};

namespace detail {
template <class T>
task<T> promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<promise<T>>::from_promise(*this)};
}
inline task<void> promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace corio
