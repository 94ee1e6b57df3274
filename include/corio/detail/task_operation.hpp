// corio/detail/task_operation.hpp: a coroutine made into an operation
// awaiter, so that with_stop and with_timeout bound and cancel a composed
// operation (resolve a name, race connects to its addresses) exactly as they
// do a single read.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "corio/cancel.hpp"
#include "corio/detail/detached.hpp"
#include "corio/detail/io.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"

namespace corio::detail {

/// Runs `make(token)`'s task when awaited, as one operation. Its op() is an
/// anchor: a timer with no practical deadline that exists only so that the
/// combinators above can cancel it through the backend like any operation.
/// When the anchor is cancelled (a stop, a deadline), `token` is stopped and
/// the task winds down (it must pass `token` to what it awaits); when the
/// task ends first, the awaiter cancels the anchor itself. Either way the
/// awaiter finishes once both are done, on a worker. `T` is a result<U>.
/// Not for per-message use: the task's frame and the stop source are made
/// per call.
template <class T>
class [[nodiscard("a resolve or connect by name does nothing until it is co_awaited")]] task_operation
    : public op_awaiter_base<task_operation<T>> {
 public:
  /// An operation whose task is `make(token)`.
  template <class Make>
    requires std::is_invocable_r_v<task<T>, Make&&, std::stop_token>
  explicit task_operation(Make&& make) : source_() {
    task_ = std::forward<Make>(make)(source_.get_token());
  }
  /// An operation that already has its value (no task, no anchor): it
  /// completes without suspending.
  explicit task_operation(T ready) : ready_(std::move(ready)), source_(std::nostopstate) {}

  task_operation(task_operation&& o) noexcept
      : ready_(std::move(o.ready_)), source_(std::move(o.source_)), task_(std::move(o.task_)) {}

  operation& op() noexcept { return anchor_; }

  bool start() noexcept {
    if (ready_) return false;
    owner_ = current_backend();
    if (!owner_) {
      anchor_.res = result_from(std::errc::operation_not_supported);
      failed_ = true;
      return false;
    }
    hook_.take(anchor_, on_anchor, this);
    prepare_timer(anchor_, clock::time_point::max());  // never fires
    pending_.store(3, std::memory_order_relaxed);  // anchor, task, this call
    if (!detail::start(anchor_)) {
      // Not cancellable, so not started: fail at once with the timer's error.
      hook_.restore(anchor_);
      failed_ = true;
      return false;
    }
    // Runs the task inline up to its first suspension (or to its end).
    runner(*this).handle.resume();
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      hook_.restore(anchor_);
      return false;
    }
    return true;
  }

  T await_resume() {
    if (ready_) return std::move(*ready_);
    if (failed_) return T(std::unexpected(error_from_result(anchor_.res)));
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }

 private:
  static detached runner(task_operation& self) {
    try {
      self.value_.emplace(co_await std::move(self.task_));
    } catch (...) {
      self.error_ = std::current_exception();
    }
    self.task_done();
    // Nothing here may touch `self` any more: it may be gone.
  }

  // On a worker (on Linux the one that started it: the task's operations
  // complete there), when the task has ended.
  void task_done() noexcept {
    task_done_.store(true, std::memory_order_release);
    if (!anchor_done_.load(std::memory_order_acquire)) cancel_owned(owner_, anchor_);
    arrive();
  }
  // The anchor completed: cancelled from above (stop, deadline) or by
  // task_done. The former winds the task down.
  static void on_anchor(operation* o) noexcept {
    auto* self = static_cast<task_operation*>(o->context);
    self->anchor_done_.store(true, std::memory_order_release);
    if (!self->task_done_.load(std::memory_order_acquire)) self->source_.request_stop();
    self->arrive();
  }
  void arrive() noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) hook_.finish(anchor_);
  }

  operation anchor_;
  completion_hook hook_;
  void* owner_ = nullptr;
  std::atomic<int> pending_{0};
  std::atomic<bool> task_done_{false}, anchor_done_{false};
  bool failed_ = false;
  std::optional<T> ready_;
  std::stop_source source_;
  task<T> task_;
  std::optional<T> value_;
  std::exception_ptr error_;
};

}  // namespace corio::detail
