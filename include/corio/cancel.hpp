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
// The machinery lives in corio/detail/cancel.hpp (operations) and
// corio/detail/cooperative.hpp (sync waits, task factories).
#pragma once

#include <chrono>
#include <stop_token>
#include <utility>

#include "corio/detail/cancel.hpp"
#include "corio/detail/cooperative.hpp"
#include "corio/result.hpp"
#include "corio/time.hpp"

namespace corio {

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
