// corio/sync/event.hpp: a manual-reset event that coroutines wait for.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <stop_token>
#include <system_error>

#include "corio/result.hpp"
#include "corio/sync/waiter.hpp"

namespace corio {

/// A flag that coroutines wait on: wait() completes at once while the event
/// is set and suspends while it is not; set() wakes every waiter and leaves
/// the event set until reset(). Use it for "ready" and "go" signals (a
/// start barrier, "the server is listening", "shutting down").
///
/// set() and reset() may be called from any thread. Waiters resume on the
/// worker where they suspended, never inline in set(). The event must
/// outlive its waiters; destroying it while a coroutine waits on it calls
/// std::terminate.
class event {
 public:
  /// The awaiter of wait(): gives void (wait()) or result<void>
  /// (wait(token)).
  template <bool Stoppable>
  class [[nodiscard]] wait_awaiter : detail::wait_base<> {
   public:
    bool await_ready() const noexcept { return ev_.is_set(); }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      return suspend(
          ev_.mu_, h, [this](detail::wake_list&) noexcept { return ev_.set_.load(std::memory_order_relaxed); },
          [this](detail::sync_waiter& w) noexcept { ev_.waiters_.push_back(w); });
    }
    auto await_resume() {
      finish();
      if constexpr (Stoppable) {
        if (w_.ec) return result<void>(fail(w_.ec));
        return result<void>();
      } else {
        // Without a token the only failure is awaiting off a runtime worker.
        if (w_.ec) throw std::system_error(w_.ec, "corio::event::wait");
      }
    }

    /// with_stop(ev.wait(), token): the same wait, given up when `token`
    /// stops; it gives a result<void>.
    friend wait_awaiter<true> rebind_stop(wait_awaiter&& a, std::stop_token token) noexcept {
      return a.ev_.wait(std::move(token));
    }

   private:
    friend class event;
    wait_awaiter(event& ev, std::stop_token token) noexcept
        : wait_base(std::move(token)), ev_(ev) {}
    event& ev_;
  };

  explicit event(bool initially_set = false) noexcept : set_(initially_set) {}
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  ~event() {
    if (!waiters_.empty()) std::terminate();
  }

  /// Sets the event and wakes every waiter. Setting a set event does
  /// nothing.
  void set() noexcept {
    detail::wake_list wakes;  // destroyed after the lock: resumes unlocked
    std::lock_guard lock(mu_);
    set_.store(true, std::memory_order_release);
    while (!waiters_.empty()) wakes.add(waiters_.pop_front());
  }

  /// Clears the event: later waits suspend until the next set(). Waiters
  /// already woken by a set() still resume.
  void reset() noexcept {
    std::lock_guard lock(mu_);
    set_.store(false, std::memory_order_relaxed);
  }

  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

  /// Coroutines suspended in wait() now (a snapshot, for tests and metrics).
  std::size_t waiting() const noexcept {
    std::lock_guard lock(mu_);
    return waiters_.size();
  }

  /// Completes at once if the event is set, else suspends until set().
  wait_awaiter<false> wait() noexcept { return wait_awaiter<false>(*this, {}); }

  /// Like wait(), but `token` can give up the wait: resumes with success,
  /// or with std::errc::operation_canceled.
  wait_awaiter<true> wait(std::stop_token token) noexcept {
    return wait_awaiter<true>(*this, std::move(token));
  }

 private:
  mutable std::mutex mu_;
  // Written under mu_; atomic so that await_ready can peek without it.
  std::atomic<bool> set_;
  detail::waiter_queue waiters_;  // guarded by mu_
};

}  // namespace corio
