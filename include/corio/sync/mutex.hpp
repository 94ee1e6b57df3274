// corio/sync/mutex.hpp: a mutex that suspends the coroutine instead of
// blocking the thread, for state that must stay locked across a co_await.
#pragma once

#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <utility>

#include "corio/result.hpp"
#include "corio/sync/waiter.hpp"

namespace corio {

/// A fair (FIFO) mutex for coroutines on any workers. `auto g = co_await
/// m.lock();` suspends while another coroutine holds it and resumes, on the
/// worker where it suspended, once ownership is handed to it; `g` unlocks
/// when it goes out of scope. Unlocking hands the mutex straight to the
/// oldest waiter, so a coroutine that unlocks and locks again in a loop
/// cannot starve the others.
///
/// Hold it across co_await only when you must (a sequence of writes that
/// must not interleave). For a few instructions with no co_await inside, a
/// std::mutex is cheaper and just as safe. Not recursive: locking it twice
/// from one coroutine deadlocks that coroutine.
///
/// The mutex must outlive its guards and waiters; destroying it while a
/// coroutine waits on it calls std::terminate.
class async_mutex {
 public:
  /// Ownership of a locked async_mutex; unlocks on destruction. Move-only.
  class [[nodiscard]] guard {
   public:
    guard() noexcept = default;
    guard(guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    guard& operator=(guard&& o) noexcept {
      if (this != &o) {
        unlock();
        m_ = std::exchange(o.m_, nullptr);
      }
      return *this;
    }
    ~guard() { unlock(); }

    /// Unlocks now (the destructor then does nothing).
    void unlock() noexcept {
      if (auto* m = std::exchange(m_, nullptr)) m->unlock();
    }
    bool owns_lock() const noexcept { return m_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }

   private:
    friend class async_mutex;
    explicit guard(async_mutex* m) noexcept : m_(m) {}
    async_mutex* m_ = nullptr;
  };

  /// The awaiter of lock(): gives a guard (lock()) or a result<guard>
  /// (lock(token)).
  template <bool Stoppable>
  class [[nodiscard]] lock_awaiter : detail::wait_base<> {
   public:
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      return suspend(
          m_.mu_, h, [this](detail::wake_list&) noexcept { return m_.lock_now(); },
          [this](detail::sync_waiter& w) noexcept { m_.waiters_.push_back(w); });
    }
    auto await_resume() {
      finish();
      if constexpr (Stoppable) {
        if (w_.ec) return result<guard>(fail(w_.ec));
        return result<guard>(guard(&m_));
      } else {
        // Without a token the only failure is awaiting off a runtime worker.
        if (w_.ec) throw std::system_error(w_.ec, "corio::async_mutex::lock");
        return guard(&m_);
      }
    }

    /// with_stop(m.lock(), token): the same lock, given up when `token`
    /// stops; it gives a result<guard>.
    friend lock_awaiter<true> rebind_stop(lock_awaiter&& a, std::stop_token token) noexcept {
      return a.m_.lock(std::move(token));
    }

   private:
    friend class async_mutex;
    lock_awaiter(async_mutex& m, std::stop_token token) noexcept
        : wait_base(std::move(token)), m_(m) {}
    async_mutex& m_;
  };

  async_mutex() noexcept = default;
  async_mutex(const async_mutex&) = delete;
  async_mutex& operator=(const async_mutex&) = delete;
  ~async_mutex() {
    if (!waiters_.empty()) std::terminate();
  }

  /// Locks: completes at once if the mutex is free, else suspends until
  /// it is handed over. Resumes on the worker where it suspended.
  lock_awaiter<false> lock() noexcept { return lock_awaiter<false>(*this, {}); }

  /// Like lock(), but `token` can give up the wait: resumes with the guard,
  /// or with std::errc::operation_canceled (not holding the mutex).
  lock_awaiter<true> lock(std::stop_token token) noexcept {
    return lock_awaiter<true>(*this, std::move(token));
  }

  /// Locks without suspending, from any thread; nullopt if it is held.
  std::optional<guard> try_lock() noexcept {
    std::lock_guard lock(mu_);
    if (!lock_now()) return std::nullopt;
    return guard(this);
  }

  /// Coroutines suspended in lock() now (a snapshot, for tests and metrics).
  std::size_t waiting() const noexcept {
    std::lock_guard lock(mu_);
    return waiters_.size();
  }

 private:
  // Under mu_.
  bool lock_now() noexcept {
    if (locked_) return false;
    locked_ = true;
    return true;
  }

  // Hands the mutex to the oldest waiter (it stays locked), or frees it.
  void unlock() noexcept {
    detail::wake_list wakes;  // destroyed after the lock: resumes unlocked
    std::lock_guard lock(mu_);
    if (waiters_.empty()) {
      locked_ = false;
    } else {
      wakes.add(waiters_.pop_front());
    }
  }

  mutable std::mutex mu_;
  bool locked_ = false;          // guarded by mu_
  detail::waiter_queue waiters_;  // guarded by mu_; oldest first
};

}  // namespace corio
