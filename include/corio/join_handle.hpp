// corio/join_handle.hpp: the handle runtime::spawn returns: a spawned
// task's result, reachable from a coroutine or from a plain thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "corio/detail/detached.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace corio {

template <class T>
class join_handle;

namespace detail {

class spawn_root;
class spawned_base;

// Leaves the root scope that admitted `st` (lib/core/spawn_root.cpp).
void leave_root(spawned_base& st) noexcept;

// What a task started by runtime::spawn shares with its handle: the
// outcome, who waits for it, and the task's own stop source. Reference
// counted (the running task holds one reference, the handle another), so
// dropping the handle detaches: the task runs on, and frees the state when
// it ends. The runtime's root scope (lib/core/spawn_root.hpp) links every
// running task's state, to join them at shutdown.
class spawned_base {
 public:
  spawned_base() = default;
  spawned_base(const spawned_base&) = delete;
  spawned_base& operator=(const spawned_base&) = delete;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // The task's token: stopped by join_handle::cancel() or by the root
  // scope's stop (runtime::shutdown).
  std::stop_token token() const noexcept { return stop_.get_token(); }
  void request_stop() noexcept { stop_.request_stop(); }

  bool ready() const {
    std::lock_guard lock(mu_);
    return done_;
  }
  // Blocks until the outcome is in, or `deadline` passes; true when it is in.
  template <class Clock, class Duration>
  bool wait_until(std::chrono::time_point<Clock, Duration> deadline) const {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [this] { return done_; });
  }
  void wait() const {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }
  // A coroutine's wait: false (do not suspend) when the outcome is in;
  // otherwise `h` is resumed, on the worker it ran on, once it is.
  bool suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(mu_);
    if (done_) return false;
    waiter_ = h;
    waiter_owner_ = current_backend();
    return true;
  }

  // Ends the wait without a value: the task did not run (operation_canceled),
  // was refused or abandoned at shutdown (errc::shut_down). Only the first
  // outcome counts; a later one is dropped.
  void finish(std::error_code ec) noexcept {
    finish_with([&] { error_ = ec; });
  }
  // The task's body threw.
  void finish(std::exception_ptr e) noexcept {
    finish_with([&] { exception_ = std::move(e); });
  }

 protected:
  virtual ~spawned_base() = default;

  // Sets the outcome (with `set`, under the lock) unless one is in, wakes
  // the blocked threads and resumes the awaiting coroutine.
  template <class F>
  void finish_with(F&& set) noexcept {
    std::coroutine_handle<> waiter;
    void* owner = nullptr;
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      set();
      done_ = true;
      waiter = std::exchange(waiter_, {});
      owner = waiter_owner_;
      // Under the lock: a woken thread may release the last reference.
      cv_.notify_all();
    }
    if (waiter) {
      // The awaiter holds its own reference, so *this outlives the resume.
      if (owner) {
        resume_on(owner, waiter);
      } else {
        waiter.resume();
      }
    }
  }

  // Read only after done_ was seen true under mu_: nothing writes them then.
  std::error_code error_;
  std::exception_ptr exception_;

 private:
  friend class spawn_root;
  friend void leave_root(spawned_base& st) noexcept;

  // Forwards the root scope's stop to this task's own source.
  struct forward_stop {
    spawned_base* self;
    void operator()() const noexcept { self->stop_.request_stop(); }
  };

  std::atomic<int> refs_{1};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool done_ = false;
  std::coroutine_handle<> waiter_;
  void* waiter_owner_ = nullptr;
  std::stop_source stop_;
  // Registered on the root token while the task runs (spawn_root).
  std::optional<std::stop_callback<forward_stop>> root_link_;
  // The root scope's list of running tasks (guarded by its mutex).
  spawn_root* root_ = nullptr;
  spawned_base* prev_ = nullptr;
  spawned_base* next_ = nullptr;
};

template <class T>
class spawned final : public spawned_base {
 public:
  void finish(std::optional<T>&& v) noexcept {
    finish_with([&] { value_ = std::move(v); });
  }
  using spawned_base::finish;

  // After ready(): the outcome, once. Rethrows the task's exception.
  result<T> take() {
    if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
    if (error_) return fail(error_);
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class spawned<void> final : public spawned_base {
 public:
  void finish() noexcept {
    finish_with([] {});
  }
  using spawned_base::finish;

  result<void> take() {
    if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
    if (error_) return fail(error_);
    return {};
  }
};

// The runtime's side of a spawned task: runs `t` unless its token was
// stopped before it started, frees the task's frame, publishes the outcome
// and leaves the root scope.
template <class T>
detached run_spawned(task<T> t, spawned<T>* st) {
  if (st->token().stop_requested()) {
    st->finish(std::make_error_code(std::errc::operation_canceled));
  } else {
    std::exception_ptr error;
    [[maybe_unused]] std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
      } else {
        value.emplace(co_await std::move(t));
      }
    } catch (...) {
      error = std::current_exception();
    }
    // The task's frame (its locals, its sockets) goes before anyone learns
    // that it ended, as a scope's child does.
    { auto ended = std::move(t); }
    if (error) {
      st->finish(std::move(error));
    } else if constexpr (std::is_void_v<T>) {
      st->finish();
    } else {
      st->finish(std::move(value));
    }
  }
  leave_root(*st);
  st->release();
}

// Calls `f(token)` in a frame that keeps `f` (and so a lambda's captures)
// alive until the task it returns has ended.
template <class F, class T>
task<T> call_with_token(F f, std::stop_token token) {
  if constexpr (std::is_void_v<T>) {
    co_await std::invoke(f, token);
  } else {
    co_return co_await std::invoke(f, token);
  }
}

// A task<T> produced by calling F with a std::stop_token.
template <class F>
concept token_task_factory = std::is_invocable_v<F&, std::stop_token>;

template <class F>
using factory_value_t = typename std::invoke_result_t<F&, std::stop_token>::value_type;

// Throws std::logic_error when a blocking wait is made on a runtime worker.
void check_may_block(const char* what);

}  // namespace detail

/// The handle of a task started by runtime::spawn: its result or its
/// exception, reachable once, from a coroutine (`co_await h`) or from a
/// plain thread (`wait`, `wait_for`). Dropping the handle (or detach())
/// lets the task run on unobserved, owned by the runtime's root scope; it
/// is still joined (or cancelled) by runtime::shutdown.
///
/// The result is `result<T>`: the task's value, or an error when the task
/// did not run to its end: `std::errc::operation_canceled` when it was
/// cancelled before it started (cancel(), or the runtime's stop), and
/// `corio::errc::shut_down` (which also compares equal to
/// operation_canceled) when the runtime refused it or gave up on it at
/// shutdown. An exception that escaped the task is rethrown by whatever
/// takes the result.
template <class T>
class [[nodiscard]] join_handle {
 public:
  join_handle() noexcept = default;
  join_handle(join_handle&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      detach();
      st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
  }
  ~join_handle() { detach(); }

  /// True while the handle refers to a task whose result was not taken.
  explicit operator bool() const noexcept { return st_ != nullptr; }

  /// True when the task has ended (or was refused): the result can be
  /// taken without blocking. Any thread.
  bool ready() const { return st_ && st_->ready(); }

  /// Requests stop on the task's token (the one runtime::spawn passes to a
  /// task factory). A task that has not started yet never starts and ends
  /// with operation_canceled; a running one ends when its operations,
  /// awaited under `with_stop(op, token)`, see the stop. Any thread.
  void cancel() noexcept {
    if (st_) st_->request_stop();
  }
  /// The task's stop token (stopped by cancel() or by runtime::shutdown).
  std::stop_token stop_token() const noexcept { return st_ ? st_->token() : std::stop_token{}; }

  /// Lets the task go on unobserved; the handle becomes empty.
  void detach() noexcept {
    if (st_) std::exchange(st_, nullptr)->release();
  }

  /// Blocks the calling thread until the task ends, then gives its result
  /// (the handle becomes empty). Not on a runtime worker (std::logic_error:
  /// it could wait for a task queued behind itself). An empty handle gives
  /// errc::not_open.
  result<T> wait() {
    if (!st_) return fail(errc::not_open);
    detail::check_may_block("join_handle::wait");
    st_->wait();
    return take();
  }

  /// As wait(), but gives errc::timed_out if the task has not ended within
  /// `timeout`; the handle then still holds the task, to wait again.
  template <class Rep, class Period>
  result<T> wait_for(std::chrono::duration<Rep, Period> timeout) {
    if (!st_) return fail(errc::not_open);
    detail::check_may_block("join_handle::wait_for");
    using steady = std::chrono::steady_clock;
    auto now = steady::now();
    // A timeout past the clock's range waits without one (no overflow).
    if (std::chrono::duration<double>(timeout) >=
        std::chrono::duration<double>(steady::time_point::max() - now)) {
      st_->wait();
    } else if (!st_->wait_until(now + std::chrono::duration_cast<steady::duration>(timeout))) {
      return fail(errc::timed_out);
    }
    return take();
  }

  /// `co_await h` (on a runtime worker, of this runtime or another):
  /// resumes on the awaiting worker once the task has ended, with its
  /// result; the handle becomes empty.
  auto operator co_await() & noexcept { return awaiter{this}; }
  auto operator co_await() && noexcept { return awaiter{this}; }

 private:
  friend class runtime;
  explicit join_handle(detail::spawned<T>* st) noexcept : st_(st) {}

  result<T> take() {
    // Released whether take() returns or rethrows.
    struct releaser {
      detail::spawned<T>* st;
      ~releaser() { st->release(); }
    } hold{std::exchange(st_, nullptr)};
    return hold.st->take();
  }

  struct awaiter {
    join_handle* h;
    bool await_ready() const { return !h->st_ || h->st_->ready(); }
    bool await_suspend(std::coroutine_handle<> caller) { return h->st_->suspend(caller); }
    result<T> await_resume() {
      if (!h->st_) return fail(errc::not_open);
      return h->take();
    }
  };

  detail::spawned<T>* st_ = nullptr;
};

}  // namespace corio
