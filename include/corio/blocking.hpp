// corio/blocking.hpp: running a blocking call (getaddrinfo, a file system
// call, a legacy library) on the runtime's blocking pool, so that it does not
// stall a worker.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>

#include "corio/detail/detached.hpp"
#include "corio/result.hpp"

namespace corio {

namespace detail {

/// One job for the blocking pool. It lives inside its awaiter (so inside the
/// awaiting coroutine's frame): submitting a job allocates nothing. The pool
/// links queued jobs through `next`/`prev`; every field after `finish` is
/// guarded by the pool's mutex.
struct blocking_job {
  enum class state : std::uint8_t {
    idle,       // not submitted yet
    queued,     // in the pool's queue; a stop may still unlink it
    running,    // a pool thread is running it; it will finish
    finished,   // run() returned
    cancelled,  // unlinked (or refused) before it ran: run() is never called
  };
  // Pool thread: the work itself. Never throws (the awaiter catches).
  void (*run)(blocking_job&) noexcept = nullptr;
  // After run() (on the pool thread), or when the pool cancels a queued job
  // at shutdown: tells the awaiter. The pool never touches the job again.
  void (*finish)(blocking_job&) noexcept = nullptr;
  // The pool of the runtime that the submitting worker belongs to.
  void* pool = nullptr;
  blocking_job* next = nullptr;
  blocking_job* prev = nullptr;
  state st = state::idle;
  // A stop arrived before the job finished: an idle job is never queued, a
  // queued one is unlinked, a running one's result is dropped.
  bool stopped = false;
};

/// The blocking pool of the calling worker's runtime, or nullptr off a
/// runtime worker.
void* current_blocking_pool() noexcept;

/// Queues `job` (its `pool`, `run` and `finish` set) unless a stop already
/// reached it (operation_canceled) or the runtime is shutting down
/// (operation_canceled), or no pool thread could be started
/// (resource_unavailable_try_again). Empty: queued; `finish` will run.
std::error_code submit_blocking(blocking_job& job) noexcept;

/// Any thread, while the job's awaiter is suspended or about to be: records
/// the stop in `job.stopped` (unless it finished) and unlinks a queued job.
/// Returns the state it found the job in; `queued` means it unlinked it and
/// the caller must resume the awaiter (the pool will not call `finish`).
blocking_job::state stop_blocking(blocking_job& job) noexcept;

// spawn_blocking's value: fn's own result<U>, or result<T> around its T.
template <class T>
struct blocking_value {
  using type = result<T>;
};
template <class U>
struct blocking_value<result<U>> {
  using type = result<U>;
};

template <class F>
class blocking_awaiter;

template <class F>
blocking_awaiter<F> restart_with_token(blocking_awaiter<F>&& a, std::stop_token token);

/// spawn_blocking's awaiter: holds the callable, the job and the place for
/// its result. Neither copied nor moved once made (the pool points into it).
template <class F>
class [[nodiscard("a blocking job does not start until it is co_awaited")]] blocking_awaiter {
  using fn_result = std::invoke_result_t<F&>;

 public:
  using value_type = typename blocking_value<fn_result>::type;

  blocking_awaiter(F fn, std::stop_token token) : fn_(std::move(fn)), token_(std::move(token)) {}
  blocking_awaiter(const blocking_awaiter&) = delete;
  blocking_awaiter& operator=(const blocking_awaiter&) = delete;

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) noexcept {
    if (token_.stop_requested()) {
      // Like with_stop: a stop before the start wins, and nothing runs.
      ec_ = std::make_error_code(std::errc::operation_canceled);
      return false;
    }
    job_.pool = current_blocking_pool();
    owner_ = current_backend();
    if (!job_.pool || !owner_) {
      ec_ = std::make_error_code(std::errc::operation_not_supported);
      return false;
    }
    waiter_ = h;
    job_.self = this;
    job_.run = &run;
    job_.finish = &finish;
    // TRICKY: the callback is registered before the job is queued, not
    // after: once queued, a pool thread may finish it and the coroutine
    // resume on another worker (IOCP) while this function would still be
    // emplacing the callback. A stop during registration marks the idle
    // job `stopped` under the pool's mutex, and submit_blocking refuses it.
    if (token_.stop_possible()) callback_.emplace(token_, canceller{this});
    if (auto ec = submit_blocking(job_)) {
      ec_ = ec;
      return false;
    }
    // Queued: from here on another thread may resume the coroutine.
    return true;
  }

  /// fn's value (fn's own result<U> as it is), operation_canceled when a
  /// stop reached the job before it finished, or the error that kept it
  /// from running; rethrows what fn threw.
  value_type await_resume() {
    callback_.reset();  // waits for a stop callback running on another thread
    if (ec_) return value_type(std::unexpected(ec_));
    if (job_.stopped) return value_type(std::unexpected(std::make_error_code(std::errc::operation_canceled)));
    if (error_) std::rethrow_exception(error_);
    if constexpr (std::is_void_v<fn_result>) {
      return {};
    } else {
      return value_type(std::move(*value_));
    }
  }

 private:
  friend blocking_awaiter restart_with_token<F>(blocking_awaiter&&, std::stop_token);

  struct job_type : blocking_job {
    blocking_awaiter* self = nullptr;
  };
  struct canceller {
    blocking_awaiter* a;
    void operator()() const noexcept {
      // Unlinked before it ran: nobody else will resume the coroutine.
      // Not resumed before this line, so *a was alive; not touched after.
      if (stop_blocking(a->job_) == blocking_job::state::queued) resume_on(a->owner_, a->waiter_);
    }
  };
  using stored = std::conditional_t<std::is_void_v<fn_result>, bool, fn_result>;

  static void run(blocking_job& j) noexcept {
    auto* self = static_cast<job_type&>(j).self;
    try {
      if constexpr (std::is_void_v<fn_result>) {
        std::invoke(self->fn_);
        self->value_.emplace(true);
      } else {
        self->value_.emplace(std::invoke(self->fn_));
      }
    } catch (...) {
      self->error_ = std::current_exception();
    }
  }
  static void finish(blocking_job& j) noexcept {
    auto* self = static_cast<job_type&>(j).self;
    resume_on(self->owner_, self->waiter_);
  }

  F fn_;
  std::stop_token token_;
  job_type job_;
  std::coroutine_handle<> waiter_;
  void* owner_ = nullptr;
  std::error_code ec_;
  std::optional<stored> value_;
  std::exception_ptr error_;
  std::optional<std::stop_callback<canceller>> callback_;
};

template <class F>
blocking_awaiter<F> restart_with_token(blocking_awaiter<F>&& a, std::stop_token token) {
  return blocking_awaiter<F>(std::move(a.fn_), std::move(token));
}

}  // namespace detail

/// Runs `fn()` on the runtime's blocking pool and resumes the awaiting
/// coroutine on a runtime worker once it returned, with its value as
/// result<T> (a `fn` that returns result<U> gives that result<U> as it is),
/// or rethrows what `fn` threw. The pool has at most
/// runtime_options::blocking_threads threads, started on demand; a thread
/// idle for runtime_options::blocking_idle ends. Jobs start in the order
/// they were submitted. Nothing is allocated per job: the job, `fn` and its
/// value live in the awaiter, in the coroutine's frame.
///
/// `token` (or with_stop) cancels a job that has not started: it never
/// runs, and the awaiter resumes at once with std::errc::operation_canceled.
/// A job already running cannot be interrupted: it completes, the awaiter
/// resumes then, and its value is dropped (operation_canceled). Off a
/// runtime worker the awaiter fails with std::errc::operation_not_supported;
/// while the runtime shuts down, with operation_canceled (queued jobs are
/// cancelled, running ones waited for, the threads joined).
template <class F>
[[nodiscard]] detail::blocking_awaiter<std::decay_t<F>> spawn_blocking(F&& fn,
                                                                      std::stop_token token = {}) {
  return detail::blocking_awaiter<std::decay_t<F>>(std::forward<F>(fn), std::move(token));
}

/// with_stop for spawn_blocking: `co_await with_stop(spawn_blocking(fn), token)`
/// is spawn_blocking(fn, token).
template <class F>
[[nodiscard]] detail::blocking_awaiter<F> with_stop(detail::blocking_awaiter<F>&& op,
                                                    std::stop_token token) {
  return detail::restart_with_token(std::move(op), std::move(token));
}

}  // namespace corio
