// lib/backend/posted_queue.hpp: how any thread hands a coroutine to a Linux
// worker (io_uring and epoll): a mutex-protected queue, and an eventfd that
// the worker waits on, written once per batch of posts.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include <atomic>
#include <coroutine>
#include <mutex>
#include <thread>
#include <vector>

#include "core/fault.hpp"
#include "core/shuffle.hpp"

namespace corio::detail {

class posted_queue {
 public:
  // Takes ownership of `wake_fd` (an eventfd).
  explicit posted_queue(int wake_fd) : wake_fd_(wake_fd) {
    posted_.reserve(64);
    draining_.reserve(64);
  }
  posted_queue(const posted_queue&) = delete;
  posted_queue& operator=(const posted_queue&) = delete;
  // Waits out any poster still inside post() or wake(), then closes the fd.
  ~posted_queue() {
    while (posters_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    ::close(wake_fd_);
  }

  int fd() const noexcept { return wake_fd_; }

  // Any thread: queue `h` for the owner and wake it.
  void post(std::coroutine_handle<> h) noexcept {
    // TRICKY: counted before the push. Once pushed, the owner may run h to
    // its end and let the runtime go; the destructor then waits for this
    // count, so the wake-up below never touches a destroyed queue. (Writing
    // the eventfd outside the lock keeps the woken owner from blocking on
    // it while the poster is still in write().)
    posters_.fetch_add(1, std::memory_order_acquire);
    {
      std::lock_guard lock(mu_);
      posted_.push_back(h);
    }
    signal();
    posters_.fetch_sub(1, std::memory_order_release);
  }
  // Any thread: make the owner's wait return.
  void wake() noexcept {
    posters_.fetch_add(1, std::memory_order_acquire);
    signal();
    posters_.fetch_sub(1, std::memory_order_release);
  }
  // Owner: resume everything posted so far; returns how many.
  std::size_t drain() noexcept {
    // Cleared before taking the queue: a post that lands after the swap
    // writes the eventfd again, so none is left behind.
    armed_.store(false, std::memory_order_release);
    {
      std::lock_guard lock(mu_);
      draining_.swap(posted_);
    }
    shuffle_batch(draining_.data(), draining_.size());
    const std::size_t n = draining_.size();
    for (auto h : draining_) h.resume();
    draining_.clear();
    return n;
  }

 private:
  void signal() noexcept {
    if (armed_.exchange(true, std::memory_order_acq_rel)) return;
    // TRICKY: armed_ is set, so every later poster skips the write until the
    // owner drains. A write that did not happen would leave the owner
    // asleep with this post (and all after it) queued: an interrupted write
    // is retried. EAGAIN (the counter would overflow) needs no retry: the
    // owner has a wake-up pending already. Any other error (none is known
    // for an eventfd) disarms, so that the next post writes again.
    const std::uint64_t one = 1;
    for (;;) {
      if (fault_hit(fault_site::posted_wake)) {
        errno = EINTR;  // injected: as an interrupted write
      } else if (::write(wake_fd_, &one, sizeof one) == sizeof one) {
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) armed_.store(false, std::memory_order_release);
      return;
    }
  }

  int wake_fd_;
  // Posters inside post()/wake(); the destructor waits for zero.
  std::atomic<int> posters_{0};
  // Set by the first poster after a drain: one eventfd write per batch.
  std::atomic<bool> armed_{false};
  std::mutex mu_;
  std::vector<std::coroutine_handle<>> posted_;  // guarded by mu_
  std::vector<std::coroutine_handle<>> draining_;
};

}  // namespace corio::detail
