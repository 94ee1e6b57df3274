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
// thread while op has not finished. `refs` counts the parties (starter,
// completion, cancel requests in transit) that must be done before the
// awaiter may finish; a request that drops the last one calls `finish(op)`.
void request_cancel(void* owner, operation& op, std::atomic<int>& refs,
                    void (*finish)(operation*) noexcept) noexcept;

// Cancels op from a completion on the worker that owns it (or any thread,
// for backends that allow it): the caller knows op has not finished.
void cancel_owned(void* owner, operation& op) noexcept;

template <op_awaiter A>
using op_result_t = decltype(std::declval<A&>().await_resume());

// Takes over op.complete/op.context for a combinator, keeping what the
// awaiter above it had set, to hand the operation back when it is done.
struct completion_hook {
  void (*final_complete)(operation*) noexcept = nullptr;
  void* final_context = nullptr;

  void take(operation& o, void (*complete)(operation*) noexcept, void* self) noexcept {
    final_complete = o.complete;
    final_context = o.context;
    o.complete = complete;
    o.context = self;
  }
  void restore(operation& o) const noexcept {
    o.complete = final_complete;
    o.context = final_context;
  }
  // Restores and completes: resumes the coroutine, or tells the next
  // combinator out.
  void finish(operation& o) const noexcept {
    restore(o);
    o.complete(&o);
  }
};

// An operation's entry in its worker's list of operations waiting on one
// stop token (lib/core/stop_registry.hpp).
struct stop_link {
  void* watch = nullptr;
  std::uint32_t slot = 0;
};

// On the calling worker: has `op` cancelled there once `token` is stopped,
// until unwatch_stop(link), which runs on that same worker. False where
// completions may run on another worker (IOCP) or nothing could be
// recorded: the caller then registers a std::stop_callback of its own.
bool watch_stop(const std::stop_token& token, operation& op, stop_link& link) noexcept;
void unwatch_stop(stop_link& link) noexcept;

// with_stop's awaiter. Itself an operation awaiter, so it nests. It refers
// to the caller's token when given an lvalue (no reference count traffic on
// the token's shared state per operation) and keeps its own copy of an
// rvalue.
template <op_awaiter A>
class stoppable : public op_awaiter_base<stoppable<A>> {
 public:
  stoppable(A inner, const std::stop_token& token) noexcept
      : token_(&token), inner_(std::move(inner)) {}
  stoppable(A inner, std::stop_token&& token) noexcept
      : token_(&owned_), inner_(std::move(inner)), owned_(std::move(token)) {}
  stoppable(stoppable&& o) noexcept
      : token_(o.token_ == &o.owned_ ? &owned_ : o.token_),
        inner_(std::move(o.inner_)),
        owned_(std::move(o.owned_)) {}

  operation& op() noexcept { return inner_.op(); }
  bool start() noexcept {
    const std::stop_token& token = *token_;
    if (token.stop_requested()) {
      // Not lost, and never sent to the kernel.
      canceled_early_ = true;
      return false;
    }
    if (!token.stop_possible()) return inner_.start();
    operation& o = inner_.op();
    if (!watch_stop(token, o, link_)) return start_with_callback(token, o);
    // Registered first: a stop that fires meanwhile is swept on this
    // worker's next turn, after this operation is in flight.
    hook_.take(o, on_complete_local, this);
    if (inner_.start()) return true;
    unwatch_stop(link_);
    hook_.restore(o);
    return false;
  }
  op_result_t<A> await_resume() {
    if (remote_) callback_.reset();  // waits for a callback running on another thread
    if (canceled_early_) return fail(std::errc::operation_canceled);
    return inner_.await_resume();
  }

 private:
  // A std::stop_callback for this operation alone (IOCP, where completions
  // run on any worker). refs_ counts this call and the completion.
  bool start_with_callback(const std::stop_token& token, operation& o) noexcept {
    hook_.take(o, on_complete, this);
    remote_ = true;
    owner_ = current_backend();
    refs_.store(2, std::memory_order_relaxed);
    if (!inner_.start()) {
      hook_.restore(o);
      return false;
    }
    // TRICKY: registered after the start, so a stop that fires inline here
    // (on this worker) finds the operation already queued. On IOCP the
    // completion may already have run on another worker; refs_ keeps it
    // from finishing us until this function is done with *this.
    callback_.emplace(token, canceller{this});
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      hook_.restore(o);
      return false;  // completed meanwhile: go on without suspending
    }
    return true;
  }

  struct canceller {
    stoppable* self;
    void operator()() const noexcept {
      request_cancel(self->owner_, self->inner_.op(), self->refs_, finish);
    }
  };
  static void on_complete_local(operation* o) noexcept {
    auto* self = static_cast<stoppable*>(o->context);
    unwatch_stop(self->link_);
    self->hook_.finish(*o);
  }
  static void on_complete(operation* o) noexcept {
    auto* self = static_cast<stoppable*>(o->context);
    if (self->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) self->hook_.finish(*o);
  }
  static void finish(operation* o) noexcept {
    static_cast<stoppable*>(o->context)->hook_.finish(*o);
  }

  // What a completion touches comes first, next to the operation (with many
  // connections each distinct cache line is a miss); the std::stop_callback
  // state, used on IOCP only, last.
  completion_hook hook_;
  stop_link link_;
  const std::stop_token* token_;
  bool canceled_early_ = false;
  bool remote_ = false;  // callback_ is in use
  A inner_;
  std::stop_token owned_;
  void* owner_ = nullptr;
  std::atomic<int> refs_{0};
  std::optional<std::stop_callback<canceller>> callback_;
};

// with_timeout's awaiter: the operation and a timer race in one frame; the
// loser is cancelled, and the awaiter finishes only after both completed.
// Itself an operation awaiter, so it nests (with_stop(with_timeout(...))).
template <op_awaiter A>
class timed : public op_awaiter_base<timed<A>> {
 public:
  timed(A inner, clock::time_point deadline) noexcept : inner_(std::move(inner)) {
    prepare_timer(timer_, deadline);
  }
  timed(timed&& o) noexcept : inner_(std::move(o.inner_)) {
    prepare_timer(timer_, clock::time_point(clock::duration(o.timer_.args.deadline_ns)));
  }

  operation& op() noexcept { return inner_.op(); }
  bool start() noexcept {
    // with_deadline(op, time_point::max()): nothing to race.
    if (timer_.args.deadline_ns == no_deadline) return inner_.start();
    operation& o = inner_.op();
    hook_.take(o, on_op, this);
    timer_.complete = on_timer;
    timer_.context = this;
    owner_ = current_backend();
    pending_.store(3, std::memory_order_relaxed);  // op, timer, this call
    if (!inner_.start()) {  // done inline: no timer needed
      hook_.restore(o);
      return false;
    }
    if (!detail::start(timer_)) {
      // No timer could be queued: the wait cannot be bounded, so end it now
      // and report the timer's error.
      timer_failed_ = true;
      timer_done_.store(true, std::memory_order_release);
      fired_.store(true, std::memory_order_release);
      cancel_owned(owner_, o);
      pending_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      hook_.restore(o);
      return false;
    }
    return true;
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
    self->arrive();
  }
  static void on_timer(operation* t) noexcept {
    auto* self = static_cast<timed*>(t->context);
    self->timer_done_.store(true, std::memory_order_release);
    if (t->res == 0 && !self->op_done_.load(std::memory_order_acquire)) {
      self->fired_.store(true, std::memory_order_release);
      cancel_owned(self->owner_, self->inner_.op());
    }
    self->arrive();
  }
  void arrive() noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) hook_.finish(inner_.op());
  }

  static constexpr std::int64_t no_deadline = clock::time_point::max().time_since_epoch().count();

  A inner_;
  operation timer_;
  completion_hook hook_;
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


/// Runs `op` with a deadline: whichever of the operation and the timer
/// finishes first wins, the other is cancelled and reaped before the
/// awaiter resumes. Returns the operation's result, or errc::timed_out
/// (which compares equal to std::errc::timed_out). A duration too long for
/// the clock (such as duration::max()) means no deadline: no timer is armed.
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

}  // namespace corio
