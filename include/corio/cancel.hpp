// corio/cancel.hpp: the one way to cancel in corio. with_stop ties anything
// that waits to a std::stop_token; with_timeout and with_deadline bound it.
// They accept:
//   - an operation (read, write, accept, connect, wait_readable, sleep, and
//     with_stop / with_timeout of one): cancelled in the kernel and reaped;
//   - a wait on a sync primitive (channel send / receive, event wait, mutex
//     lock): given up, the primitive untouched;
//   - a task factory, a callable `(std::stop_token) -> task<T>`: the task
//     gets the token and hands it to what it awaits (a running task can only
//     be stopped through a token it was given).
// Whatever finished is never discarded: a result that arrived after the
// stop or the deadline is returned as is (docs/cancellation-safety.md).
// The machinery lives in corio/detail/cancel.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "corio/detail/cancel.hpp"
#include "corio/result.hpp"
#include "corio/scope.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio {

namespace detail {

template <class X>
inline constexpr bool is_task_v = false;
template <class T>
inline constexpr bool is_task_v<task<T>> = true;

/// A callable that makes a task from the stop token it should obey.
template <class F>
concept task_factory = std::invocable<F&, std::stop_token> &&
                       is_task_v<std::invoke_result_t<F&, std::stop_token>>;

/// A sync primitive's wait (channel send/receive, event wait, mutex lock):
/// `rebind_stop(w, token)` (a hidden friend) gives the same wait tied to
/// `token`, with a result<...> value.
template <class W>
concept stop_rebindable = !op_awaiter<W> && std::move_constructible<W> &&
                          requires(W&& w, std::stop_token t) {
                            rebind_stop(std::move(w), std::move(t)).await_resume();
                          };

/// What with_timeout can bound besides an operation.
template <class X>
concept cooperative = task_factory<X> || stop_rebindable<X>;

// T as a result: result<U> stays, void is result<void>, anything else
// result<T>.
template <class T>
struct as_result {
  using type = result<T>;
};
template <class U>
struct as_result<result<U>> {
  using type = result<U>;
};
template <>
struct as_result<void> {
  using type = result<void>;
};

template <class X>
struct cooperative_traits;
template <task_factory F>
struct cooperative_traits<F> {
  using value = typename std::invoke_result_t<F&, std::stop_token>::value_type;
  using type = typename as_result<value>::type;
};
template <stop_rebindable W>
struct cooperative_traits<W> {
  using type = decltype(rebind_stop(std::declval<W>(), std::stop_token{}).await_resume());
};
template <class X>
using cooperative_result_t = typename cooperative_traits<X>::type;

// Awaits `x` tied to `token`, as a result.
template <class X>
task<cooperative_result_t<X>> await_stoppable(X& x, std::stop_token token) {
  using R = cooperative_result_t<X>;
  if constexpr (stop_rebindable<X>) {
    co_return co_await rebind_stop(std::move(x), std::move(token));
  } else if constexpr (std::is_void_v<typename cooperative_traits<X>::value>) {
    co_await x(std::move(token));
    co_return R{};
  } else {
    co_return R(co_await x(std::move(token)));
  }
}

struct stop_forwarder {
  std::stop_source* target;
  void operator()() const noexcept { target->request_stop(); }
};

// The timer of a cooperative race: stops `target` at `deadline`, unless
// `quit` ends it first.
inline task<void> deadline_timer(clock::time_point deadline, std::stop_source& target,
                                 std::stop_token quit, std::atomic<bool>& fired) {
  // TRICKY: not `if (co_await ...)`: GCC 12 miscompiles that form here (the
  // body never runs when the coroutine is resumed).
  auto slept = co_await stoppable<sleep_awaiter>(sleep_until(deadline), quit);
  if (slept) {
    fired.store(true, std::memory_order_release);
    target.request_stop();
  }
}

// A cooperative wait raced against a timer, both in this frame's scope:
// the loser is stopped and joined before it returns. A result the wait
// produced is returned even if the timer fired (nothing finished is lost);
// only a wait that ended cancelled because of the deadline gives
// timed_out. `outer` (a with_stop around the whole) stops the wait too.
template <class X>
task<cooperative_result_t<X>> race_deadline(X x, clock::time_point deadline, std::stop_token outer) {
  using R = cooperative_result_t<X>;
  std::stop_source cancel;
  std::stop_callback<stop_forwarder> link(outer, stop_forwarder{&cancel});
  if (deadline == clock::time_point::max()) co_return co_await await_stoppable(x, cancel.get_token());
  std::stop_source timer_quit;
  std::atomic<bool> fired{false};
  scope timer;
  std::optional<R> r;
  std::exception_ptr error;
  try {
    timer.spawn_local(deadline_timer(deadline, cancel, timer_quit.get_token(), fired));
    r.emplace(co_await await_stoppable(x, cancel.get_token()));
  } catch (...) {
    error = std::current_exception();
  }
  timer_quit.request_stop();
  co_await timer.join();
  if (error) std::rethrow_exception(error);
  if (!*r && fired.load(std::memory_order_acquire) && r->error() == std::errc::operation_canceled) {
    co_return fail(errc::timed_out);
  }
  co_return std::move(*r);
}

/// with_timeout / with_deadline of a cooperative wait. Awaitable as is
/// (co_await gives the result), and itself a task factory, so it nests:
/// with_stop(with_timeout(f, d), token), or a when_any child.
template <class X>
class [[nodiscard]] cooperative_deadline {
 public:
  using result_type = cooperative_result_t<X>;

  cooperative_deadline(X x, clock::time_point deadline) noexcept(std::is_nothrow_move_constructible_v<X>)
      : x_(std::move(x)), deadline_(deadline) {}

  /// The race as a task that `outer` can also stop (a task factory).
  task<result_type> operator()(std::stop_token outer) {
    return race_deadline(std::move(x_), deadline_, std::move(outer));
  }

  auto operator co_await() && {
    struct awaiter {
      task<result_type> t;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
        return std::move(t).operator co_await().await_suspend(h);
      }
      result_type await_resume() { return std::move(t).operator co_await().await_resume(); }
    };
    return awaiter{(*this)(std::stop_token{})};
  }

 private:
  X x_;
  clock::time_point deadline_;
};

}  // namespace detail

/// Runs operation `op` (a read, write, accept, connect, sleep, ...) so that
/// `token` can cancel it. A stop requested before it starts completes it at
/// once with std::errc::operation_canceled without reaching the kernel; a
/// stop while it is in flight cancels it in the kernel, and the awaiter
/// resumes (on a worker) only after the kernel has released the operation
/// and its buffers, with operation_canceled, or with the real result if the
/// operation finished first (bytes read after the stop are returned, not
/// dropped). The stream stays usable after a cancelled read.
///
/// `op` is taken by value, so `co_await with_stop(conn.read(buf), token)`
/// keeps one awaiter in the coroutine frame, not a temporary beside it.
template <detail::op_awaiter A>
[[nodiscard]] detail::stoppable<A> with_stop(A op, const std::stop_token& token) {
  return {std::move(op), token};
}

/// with_stop with a token the awaiter keeps a copy of (a temporary, such as
/// `scope.token()`). The overload above refers to a named token instead, which
/// must then outlive the awaiter, like the buffer of a read.
template <detail::op_awaiter A>
[[nodiscard]] detail::stoppable<A> with_stop(A op, std::stop_token&& token) {
  return {std::move(op), std::move(token)};
}

/// A sync primitive's wait (channel send / receive, event wait, mutex lock)
/// given up when `token` stops: it resumes with
/// std::errc::operation_canceled and leaves the primitive untouched (no
/// value taken or sent, no lock held). Allocates nothing. The result is a
/// result<...> even for event::wait() and async_mutex::lock().
template <detail::stop_rebindable W>
[[nodiscard]] auto with_stop(W wait, std::stop_token token) noexcept {
  return rebind_stop(std::move(wait), std::move(token));
}

/// A task factory (`(std::stop_token) -> task<T>`) given `token`: returns
/// the task it makes, which ends (cooperatively) when `token` stops.
template <detail::task_factory F>
[[nodiscard]] auto with_stop(F make, std::stop_token token) {
  return make(std::move(token));
}

/// Runs `op` with a deadline: whichever of the operation and the timer
/// finishes first wins, the other is cancelled and reaped before the
/// awaiter resumes. Returns the operation's result (even if the timer also
/// fired: a read that completed with data returns the data), or
/// errc::timed_out (which compares equal to std::errc::timed_out). A
/// duration too long for the clock (such as duration::max()) means no
/// deadline: no timer is armed.
template <detail::op_awaiter A, class Rep, class Period>
[[nodiscard]] detail::timed<A> with_timeout(A op, std::chrono::duration<Rep, Period> d) {
  return {std::move(op), detail::deadline_after(d)};
}

/// with_timeout with an absolute deadline on the steady clock;
/// clock::time_point::max() arms no timer.
template <detail::op_awaiter A>
[[nodiscard]] detail::timed<A> with_deadline(A op, clock::time_point deadline) {
  return {std::move(op), deadline};
}

/// with_timeout of a sync wait or a task factory. At the deadline the wait
/// (or the token given to the task) is stopped, and the awaiter resumes once
/// it has ended: with its own result if it produced one (a value received,
/// a task that finished anyway), errc::timed_out if it ended cancelled. An
/// exception from the task propagates. The timer runs in a child of this
/// call, stopped and joined before it returns. `co_await` it, or pass it
/// wherever a task factory goes (with_stop, when_any).
template <detail::cooperative X, class Rep, class Period>
  requires(!detail::op_awaiter<X>)
[[nodiscard]] detail::cooperative_deadline<X> with_timeout(X x, std::chrono::duration<Rep, Period> d) {
  return {std::move(x), detail::deadline_after(d)};
}

/// with_timeout of a sync wait or a task factory, with an absolute deadline.
template <detail::cooperative X>
  requires(!detail::op_awaiter<X>)
[[nodiscard]] detail::cooperative_deadline<X> with_deadline(X x, clock::time_point deadline) {
  return {std::move(x), deadline};
}

}  // namespace corio
