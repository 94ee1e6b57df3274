// corio/cancel.hpp: cancelling any operation through a std::stop_token, and
// bounding it with a timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <stop_token>
#include <type_traits>

#include "corio/detail/detached.hpp"
#include "corio/detail/io.hpp"
#include "corio/result.hpp"
#include "corio/time.hpp"

namespace corio {

namespace detail {

// Asks `owner` (the backend that started op) to cancel op; callable from any
// thread while op's coroutine has not resumed. `refs` is the awaiter's
// count of parties (starter, completion, remote requests) that must finish
// before the coroutine may resume; see with_stop.
void request_cancel(void* owner, operation& op, std::atomic<int>& refs) noexcept;

// Cancels op from a completion on the worker that owns it (or any thread,
// for backends that allow it): the caller knows op is still in flight.
void cancel_owned(void* owner, operation& op) noexcept;

template <op_awaiter A>
using op_result_t = decltype(std::declval<A&>().await_resume());

// with_stop's awaiter.
template <op_awaiter A>
class stoppable {
 public:
  stoppable(A inner, std::stop_token token) noexcept
      : inner_(std::move(inner)), token_(std::move(token)) {}
  stoppable(stoppable&& o) noexcept : inner_(std::move(o.inner_)), token_(std::move(o.token_)) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    if (token_.stop_requested()) {
      // Not lost, and never sent to the kernel.
      canceled_early_ = true;
      return false;
    }
    operation& o = inner_.op();
    o.waiter = h;
    if (!token_.stop_possible()) return inner_.start();
    o.complete = on_complete;
    o.context = this;
    owner_ = current_backend();
    refs_.store(2, std::memory_order_relaxed);  // this call, and the completion
    if (!inner_.start()) return false;
    // TRICKY: registered after the start, so a stop that fires inline here
    // (on this worker) finds the operation already queued. On IOCP the
    // completion may already have run on another worker; refs_ keeps it
    // from resuming us until this function is done with *this.
    callback_.emplace(token_, canceller{this});
    return refs_.fetch_sub(1, std::memory_order_acq_rel) != 1;
  }
  op_result_t<A> await_resume() {
    callback_.reset();  // waits for a callback running on another thread
    if (canceled_early_) return fail(std::errc::operation_canceled);
    return inner_.await_resume();
  }

 private:
  struct canceller {
    stoppable* self;
    void operator()() const noexcept {
      request_cancel(self->owner_, self->inner_.op(), self->refs_);
    }
  };
  static void on_complete(operation* o) noexcept {
    auto* self = static_cast<stoppable*>(o->context);
    if (self->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) o->waiter.resume();
  }

  A inner_;
  std::stop_token token_;
  void* owner_ = nullptr;
  std::atomic<int> refs_{0};
  bool canceled_early_ = false;
  std::optional<std::stop_callback<canceller>> callback_;
};

// with_timeout's awaiter: the operation and a timer race in one frame; the
// loser is cancelled, and the coroutine resumes only after both completed.
template <op_awaiter A>
class timed {
 public:
  timed(A inner, clock::time_point deadline) noexcept : inner_(std::move(inner)) {
    timer_state_.deadline_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  }
  timed(timed&& o) noexcept : inner_(std::move(o.inner_)), timer_state_(o.timer_state_) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    waiter_ = h;
    operation& o = inner_.op();
    o.waiter = h;
    o.complete = on_op;
    o.context = this;
    timer_.waiter = h;
    timer_.complete = on_timer;
    timer_.context = this;
    owner_ = current_backend();
    pending_.store(3, std::memory_order_relaxed);  // op, timer, this call
    if (!inner_.start()) return false;             // done inline: no timer needed
    if (!start_timer(timer_, timer_state_)) {
      // No timer could be queued: the wait cannot be bounded, so end it now
      // and report the timer's error.
      timer_failed_ = true;
      fired_.store(true, std::memory_order_relaxed);
      cancel_owned(owner_, o);
      pending_.fetch_sub(1, std::memory_order_relaxed);
    }
    return pending_.fetch_sub(1, std::memory_order_acq_rel) != 1;
  }
  op_result_t<A> await_resume() {
    auto r = inner_.await_resume();
    if (!r && fired_.load(std::memory_order_acquire) && r.error() == std::errc::operation_canceled) {
      if (timer_failed_) return fail(error_from_result(timer_.res));
      return fail(errc::timed_out);
    }
    // The operation's own result wins whenever it has one, even if the
    // timer also fired: no completed read or write is ever discarded.
    return r;
  }

 private:
  static void on_op(operation* o) noexcept {
    auto* self = static_cast<timed*>(o->context);
    self->op_done_.store(true, std::memory_order_release);
    if (!self->timer_done_.load(std::memory_order_acquire)) cancel_owned(self->owner_, self->timer_);
    self->finish();
  }
  static void on_timer(operation* t) noexcept {
    auto* self = static_cast<timed*>(t->context);
    self->timer_done_.store(true, std::memory_order_release);
    if (t->res == 0 && !self->op_done_.load(std::memory_order_acquire)) {
      self->fired_.store(true, std::memory_order_release);
      cancel_owned(self->owner_, self->inner_.op());
    }
    self->finish();
  }
  void finish() noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) waiter_.resume();
  }

  A inner_;
  operation timer_;
  timer_state timer_state_;
  std::coroutine_handle<> waiter_;
  void* owner_ = nullptr;
  std::atomic<int> pending_{0};
  std::atomic<bool> op_done_{false}, timer_done_{false}, fired_{false};
  bool timer_failed_ = false;
};

}  // namespace detail

/// Runs operation `op` (a read, write, accept, connect, sleep, ...) so that
/// `token` can cancel it. A stop requested before it starts completes it at
/// once with std::errc::operation_canceled without reaching the kernel; a
/// stop while it is in flight cancels it in the kernel, and the awaiter
/// resumes (on a worker) only after the kernel has released the operation
/// and its buffers, with operation_canceled, or with the real result if the
/// operation finished first. The stream stays usable after a cancelled read.
template <detail::op_awaiter A>
[[nodiscard]] detail::stoppable<std::remove_cvref_t<A>> with_stop(A&& op, std::stop_token token) {
  return {std::forward<A>(op), std::move(token)};
}

/// Runs `op` with a deadline: whichever of the operation and the timer
/// finishes first wins, the other is cancelled and reaped before the
/// awaiter resumes. Returns the operation's result, or errc::timed_out
/// (which compares equal to std::errc::timed_out).
template <detail::op_awaiter A, class Rep, class Period>
[[nodiscard]] detail::timed<std::remove_cvref_t<A>> with_timeout(
    A&& op, std::chrono::duration<Rep, Period> d) {
  return {std::forward<A>(op), clock::now() + std::chrono::duration_cast<clock::duration>(d)};
}

/// with_timeout with an absolute deadline on the steady clock.
template <detail::op_awaiter A>
[[nodiscard]] detail::timed<std::remove_cvref_t<A>> with_deadline(A&& op,
                                                                clock::time_point deadline) {
  return {std::forward<A>(op), deadline};
}

}  // namespace corio
