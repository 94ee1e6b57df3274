// corio/detail/cooperative.hpp: with_stop and with_timeout for what is not
// a kernel operation (corio/cancel.hpp is the user-facing part): sync waits
// (rebound to a stop token) and task factories (given one), raced against a
// timer that runs in a child coroutine.
#pragma once

#include <atomic>
#include <concepts>
#include <coroutine>
#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "corio/detail/cancel.hpp"
#include "corio/result.hpp"
#include "corio/scope.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio::detail {

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

}  // namespace corio::detail
