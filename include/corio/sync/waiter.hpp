// corio/sync/waiter.hpp: what every sync primitive (channel, async_mutex,
// event) shares: the waiter that lives in a suspended coroutine's awaiter,
// the intrusive queue that links waiters, and the one protocol that decides
// who resumes a waiter (a normal wake-up, or its stop token).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <utility>

#include "corio/detail/detached.hpp"

namespace corio::detail {

class waiter_queue;

/// One coroutine suspended on a sync primitive. It lives inside the
/// awaiter, so inside the suspended coroutine's frame: waiting allocates
/// nothing. Every field after `handle` is guarded by the primitive's mutex.
struct sync_waiter {
  enum class state : std::uint8_t {
    idle,    // not queued yet (or never: the wait completed at once)
    queued,  // linked into `queue`; whoever unlinks it must resume it
    done,    // unlinked by a wake-up or a stop; resumed (or about to be)
  };

  // The coroutine to resume, exactly once, on the worker that owns `owner`.
  std::coroutine_handle<> handle;
  // The backend of the worker where the coroutine suspended (resume_on).
  void* owner = nullptr;
  // Links in `queue` while queued; in a wake_list once done.
  sync_waiter* next = nullptr;
  sync_waiter* prev = nullptr;
  // Which of the primitive's queues holds it, so a stop can unlink it.
  waiter_queue* queue = nullptr;
  // The outcome: empty for success, else not_open, operation_canceled, ...
  std::error_code ec;
  state st = state::idle;
  // A stop arrived before the waiter was queued: it must not queue.
  bool stop_seen = false;
};

/// A FIFO of waiters, linked through the waiters themselves. Guarded by the
/// owning primitive's mutex.
class waiter_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }

  void push_back(sync_waiter& w) noexcept {
    w.queue = this;
    w.next = nullptr;
    w.prev = tail_;
    if (tail_) tail_->next = &w; else head_ = &w;
    tail_ = &w;
    ++size_;
  }

  /// Unlinks and returns the oldest waiter; the queue must not be empty.
  sync_waiter& pop_front() noexcept {
    sync_waiter& w = *head_;
    remove(w);
    return w;
  }

  void remove(sync_waiter& w) noexcept {
    if (w.prev) w.prev->next = w.next; else head_ = w.next;
    if (w.next) w.next->prev = w.prev; else tail_ = w.prev;
    w.next = w.prev = nullptr;
    w.queue = nullptr;
    --size_;
  }

 private:
  sync_waiter* head_ = nullptr;
  sync_waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

/// Waiters that a primitive has unlinked under its lock and that must be
/// resumed once the lock is released. Resuming means posting to the
/// waiter's worker (resume_on), never running it inline, so a wake-up under
/// a primitive's lock cannot re-enter the primitive.
class wake_list {
 public:
  wake_list() noexcept = default;
  wake_list(const wake_list&) = delete;
  wake_list& operator=(const wake_list&) = delete;
  ~wake_list() { resume_all(); }

  /// Under the primitive's lock, for a waiter already unlinked: records its
  /// outcome and claims the right to resume it.
  void add(sync_waiter& w, std::error_code ec = {}) noexcept {
    w.ec = ec;
    w.st = sync_waiter::state::done;
    w.next = nullptr;
    if (tail_) tail_->next = &w; else head_ = &w;
    tail_ = &w;
  }

  /// After the lock is released: resumes each waiter on its own worker.
  void resume_all() noexcept {
    sync_waiter* w = head_;
    head_ = tail_ = nullptr;
    while (w) {
      // TRICKY: once posted, the waiter may run on its worker and free its
      // frame (this waiter included) before resume_on returns here; read
      // the link first and never touch *w afterwards.
      sync_waiter* n = w->next;
      resume_on(w->owner, w->handle);
      w = n;
    }
  }

 private:
  sync_waiter* head_ = nullptr;
  sync_waiter* tail_ = nullptr;
};

/// The stop callback of one wait. Runs on whichever thread requests the
/// stop (inline in request_stop).
struct wait_canceller {
  std::mutex* mu;
  sync_waiter* w;
  void operator()() const noexcept {
    std::unique_lock lock(*mu);
    switch (w->st) {
      case sync_waiter::state::queued: {
        // TRICKY: a wake-up and this stop may race on two threads. Both
        // decide under the primitive's mutex, by the state: the first to
        // see `queued` unlinks the waiter and is the only one to resume it;
        // the other sees `done` and leaves it alone.
        w->queue->remove(*w);
        w->ec = std::make_error_code(std::errc::operation_canceled);
        w->st = sync_waiter::state::done;
        std::coroutine_handle<> h = w->handle;
        void* owner = w->owner;
        lock.unlock();
        // Not resumed before this line (it was claimed, not posted), so *w
        // was still alive above; not touched after it.
        resume_on(owner, h);
        return;
      }
      case sync_waiter::state::idle:
        // Registered before the waiter queued (see wait_base::suspend),
        // maybe inline in that registration: tell it not to queue.
        w->stop_seen = true;
        return;
      case sync_waiter::state::done:
        return;  // a wake-up got there first and resumes it
    }
  }
};

/// The suspend-and-cancel logic of every sync awaiter, written once. `W` is
/// the primitive's waiter type (a sync_waiter, perhaps with a value slot).
template <class W = sync_waiter>
class wait_base {
 protected:
  template <class... A>
  explicit wait_base(std::stop_token token, A&&... args) noexcept
      : w_(std::forward<A>(args)...), token_(std::move(token)) {}
  wait_base(const wait_base&) = delete;
  wait_base& operator=(const wait_base&) = delete;
  // Only before the wait is awaited (nothing queued, no callback yet): a
  // combinator such as with_timeout takes the awaiter by value.
  wait_base(wait_base&& o) noexcept : w_(std::move(o.w_)), token_(std::move(o.token_)) {}

  // Runs a wait on the primitive guarded by `mu`. Under the lock,
  // `try_now(wakes)` either completes the wait (returns true, having set
  // w_.ec and anything else the awaiter reads) or returns false, and then
  // `enqueue(w_)` links the waiter into one of the primitive's queues.
  // Returns whether the coroutine stays suspended (await_suspend's bool).
  template <class TryNow, class Enqueue>
  bool suspend(std::mutex& mu, std::coroutine_handle<> h, TryNow&& try_now,
               Enqueue&& enqueue) noexcept {
    if (token_.stop_requested()) {
      // Like with_stop: a stop requested before the wait starts wins, and
      // the primitive is not touched.
      w_.ec = std::make_error_code(std::errc::operation_canceled);
      return false;
    }
    wake_list wakes;  // destroyed last: resumes after the lock is released
    if (token_.stop_possible()) {
      {
        // The fast path first, so a wait that completes at once does not
        // register a stop callback.
        std::lock_guard lock(mu);
        if (try_now(wakes)) return false;
      }
      // TRICKY: the callback is registered before the waiter is queued,
      // not after. Once queued (and the lock released), a wake-up on
      // another thread may resume the coroutine on another worker (IOCP
      // resumes on any worker), so this function may no longer touch
      // *this; emplacing the callback then would race with await_resume's
      // reset. A stop that fires during (or after) registration but before
      // queueing sets stop_seen under the lock, checked below.
      callback_.emplace(token_, wait_canceller{&mu, &w_});
    }
    std::unique_lock lock(mu);
    if (w_.stop_seen) {
      w_.ec = std::make_error_code(std::errc::operation_canceled);
      return false;
    }
    if (try_now(wakes)) return false;
    void* owner = current_backend();
    if (!owner) {
      // Off a runtime worker there is nowhere to resume the coroutine.
      w_.ec = std::make_error_code(std::errc::operation_not_supported);
      return false;
    }
    w_.handle = h;
    w_.owner = owner;
    w_.st = sync_waiter::state::queued;
    enqueue(w_);
    // The lock is released on return; from then on another thread may
    // resume the coroutine, and nothing here touches *this again.
    return true;
  }

  // In await_resume, before anything else: drops the stop callback, waiting
  // for it if it is running on another thread (it may be just past its
  // resume_on call).
  void finish() noexcept { callback_.reset(); }

  W w_;
  std::stop_token token_;
  std::optional<std::stop_callback<wait_canceller>> callback_;
};

}  // namespace corio::detail
