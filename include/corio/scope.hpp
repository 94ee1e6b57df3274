// corio/scope.hpp: structured lifetimes. A scope spawns child tasks and
// joins them; nothing it spawned outlives it.
#pragma once

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "corio/detail/detached.hpp"
#include "corio/task.hpp"

namespace corio {

/// A task group (nursery). Each child runs on its own; `co_await s.join()`
/// resumes once every child has finished and its frame has been freed. A
/// server spawns each connection into a scope, so leaving the server joins
/// every connection: no global connection table, no frame outliving its
/// operations (lessons 3 and 4). Spawn and join only from runtime workers.
/// Destroying a scope whose children are still running is a bug and calls
/// std::terminate: a coroutine that may exit by an exception while children
/// run should own its scope through with_scope (below), which joins on
/// every exit.
class scope {
 public:
  scope() noexcept = default;
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;
  ~scope() {
    if (count_.load(std::memory_order_acquire) != 1) std::terminate();
  }

  /// Starts `t` as a child on the next worker (round-robin), so a server's
  /// connections spread over the workers (on IOCP, through the shared port:
  /// whichever worker is free). Returns at once.
  void spawn(task<void> t) { detail::schedule_anywhere(start(std::move(t))); }
  /// Starts `t` as a child on the calling worker.
  void spawn_local(task<void> t) { detail::schedule_local(start(std::move(t))); }

  /// Asks every child to stop: operations run with `with_stop(op,
  /// s.token())` complete with operation_canceled, so children that use the
  /// token end promptly. join() still waits for each of them.
  void request_stop() noexcept { stop_.request_stop(); }
  /// The token that request_stop() triggers, for the children's operations.
  std::stop_token token() const noexcept { return stop_.get_token(); }
  bool stop_requested() const noexcept { return stop_.stop_requested(); }

  /// From now on, a child that ends by an exception also requests stop, so
  /// its siblings that use token() end too (with_scope sets this).
  void stop_on_error() noexcept { stop_on_error_.store(true, std::memory_order_relaxed); }

  /// Children spawned and not yet finished.
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed) - 1; }

  /// Awaits every child. Resumes on the worker where the last child ended
  /// (or at once if none is running), then rethrows the first exception
  /// that escaped a child, if any. The scope can be reused afterwards.
  auto join() noexcept {
    struct awaiter {
      scope& s;
      bool await_ready() const noexcept { return s.count_.load(std::memory_order_acquire) == 1; }
      bool await_suspend(std::coroutine_handle<> h) noexcept {
        s.joiner_ = h;
        // The child that brings the count to zero resumes us.
        if (s.count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          s.count_.store(1, std::memory_order_relaxed);
          return false;
        }
        return true;
      }
      void await_resume() {
        if (auto e = std::exchange(s.error_, nullptr)) std::rethrow_exception(e);
      }
    };
    return awaiter{*this};
  }

 private:
  // Frees the child's frame before telling the scope, so that once join
  // resumes no child frame is left.
  struct child_done {
    scope* s;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> self) noexcept {
      scope* sc = s;
      self.destroy();
      if (sc->count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        sc->count_.store(1, std::memory_order_relaxed);
        return sc->joiner_;
      }
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  struct child {
    struct promise_type : detail::cached_frame {
      scope* s;
      promise_type(scope& sc, task<void>&) noexcept : s(&sc) {}
      child get_return_object() noexcept {
        return {std::coroutine_handle<promise_type>::from_promise(*this)};
      }
      std::suspend_always initial_suspend() const noexcept { return {}; }
      child_done final_suspend() const noexcept { return {s}; }
      void return_void() const noexcept {}
      void unhandled_exception() noexcept { s->record(std::current_exception()); }
    };
    std::coroutine_handle<promise_type> handle;
  };

  static child run_child(scope&, task<void> t) { co_await std::move(t); }

  std::coroutine_handle<> start(task<void> t) {
    if (!detail::on_worker()) throw std::logic_error("corio: scope::spawn called off a runtime worker");
    count_.fetch_add(1, std::memory_order_relaxed);
    return run_child(*this, std::move(t)).handle;
  }

  void record(std::exception_ptr e) noexcept {
    {
      std::lock_guard lock(mu_);
      if (!error_) error_ = e;
    }
    if (stop_on_error_.load(std::memory_order_relaxed)) stop_.request_stop();
  }

  // 1 + running children; join() takes the 1 away while it waits.
  std::atomic<std::size_t> count_{1};
  std::coroutine_handle<> joiner_;
  std::mutex mu_;  // guards error_ (children may fail on several workers)
  std::exception_ptr error_;
  std::stop_source stop_;
  std::atomic<bool> stop_on_error_{false};
};

namespace detail {

template <class F>
using scoped_value_t = typename std::invoke_result_t<F&, scope&>::value_type;

// with_scope's body: whatever way `body` ends, `s` is joined before this
// returns; an exception (the body's first, else a child's) propagates after.
template <class F>
task<scoped_value_t<F>> run_scoped(scope& s, F& body) {
  using T = scoped_value_t<F>;
  s.stop_on_error();
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
  std::exception_ptr error;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await body(s);
      value.emplace(true);
    } else {
      value.emplace(co_await body(s));
    }
  } catch (...) {
    error = std::current_exception();
    s.request_stop();
  }
  try {
    co_await s.join();
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*value);
}

}  // namespace detail

/// Runs `body(s)`, a coroutine lambda `(corio::scope&) -> task<T>`, with a
/// scope `s` that it spawns children into, and owns that scope (Trio's
/// nursery, Python's TaskGroup): however the body ends, every child has
/// finished and its frame is freed before with_scope returns.
///   - The body returns: its children are awaited (stop them first with
///     `s.request_stop()` if they should not run on); then the body's value
///     is returned, or the first child exception rethrown.
///   - The body throws (or a child throws): `s.request_stop()` is called, so
///     children that use `s.token()` end promptly; all are joined; then the
///     body's exception (else the child's) propagates to the awaiter.
///     Never std::terminate.
///   - Cancellation is a stop of `s.token()` (request it, or tie it to
///     another token with a std::stop_callback): the body and the children
///     see it through their with_stop calls.
/// `body` is kept in with_scope's frame while it runs, so a lambda's
/// captures stay valid. Resumes on the worker where the last child ended.
template <class F>
  requires std::invocable<F&, scope&>
task<detail::scoped_value_t<F>> with_scope(F body) {
  scope s;
  co_return co_await detail::run_scoped(s, body);
}

/// with_scope over a scope the caller keeps (to stop it from elsewhere, as
/// a connection's kick does); `s` must have no running children when it
/// starts, and has none when it ends.
template <class F>
  requires std::invocable<F&, scope&>
task<detail::scoped_value_t<F>> with_scope(scope& s, F body) {
  co_return co_await detail::run_scoped(s, body);
}

}  // namespace corio
