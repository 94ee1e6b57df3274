// lib/core/blocking_pool.cpp: the blocking pool's threads and queue.
#include "core/blocking_pool.hpp"

#include "core/runtime_impl.hpp"
#include "core/worker.hpp"

namespace corio::detail {

void* current_blocking_pool() noexcept {
  auto* w = worker::current();
  return w ? &w->rt().blocking() : nullptr;
}

std::error_code submit_blocking(blocking_job& job) noexcept {
  return static_cast<blocking_pool*>(job.pool)->submit(job);
}

blocking_job::state stop_blocking(blocking_job& job) noexcept {
  return static_cast<blocking_pool*>(job.pool)->stop(job);
}

blocking_pool::blocking_pool(unsigned max_threads, std::chrono::milliseconds idle) noexcept
    : max_threads_(max_threads ? max_threads : 64), idle_timeout_(idle) {}

blocking_pool::~blocking_pool() { shutdown(); }

void blocking_pool::push(blocking_job& job) noexcept {
  job.next = nullptr;
  job.prev = tail_;
  if (tail_) tail_->next = &job; else head_ = &job;
  tail_ = &job;
  ++queued_;
}

void blocking_pool::unlink(blocking_job& job) noexcept {
  if (job.prev) job.prev->next = job.next; else head_ = job.next;
  if (job.next) job.next->prev = job.prev; else tail_ = job.prev;
  job.next = job.prev = nullptr;
  --queued_;
}

blocking_job* blocking_pool::pop() noexcept {
  blocking_job* job = head_;
  if (job) unlink(*job);
  return job;
}

std::error_code blocking_pool::submit(blocking_job& job) noexcept {
  std::lock_guard lock(mu_);
  if (job.stopped || closed_) {
    job.st = blocking_job::state::cancelled;
    return std::make_error_code(std::errc::operation_canceled);
  }
  job.st = blocking_job::state::queued;
  push(job);
  if (idle_ > 0) work_.notify_one();
  // Every thread that is not running a job (idle, or just done with one and
  // about to look at the queue) takes one; more jobs than that start a
  // thread, up to the bound. Beyond it the job waits for a busy thread.
  if (queued_ > threads_ - busy_ && threads_ < max_threads_) {
    try {
      live_.emplace_back();
      auto self = std::prev(live_.end());
      try {
        // The new thread locks mu_ before it reads *self: it sees it set.
        *self = std::thread([this, self] { thread_main(self); });
        ++threads_;
      } catch (...) {
        live_.erase(self);
        throw;
      }
    } catch (...) {
      if (threads_ == 0) {
        // No thread to run it, now or later.
        unlink(job);
        job.st = blocking_job::state::cancelled;
        return std::make_error_code(std::errc::resource_unavailable_try_again);
      }
      // The threads already there will get to it.
    }
  }
  return {};
}

blocking_job::state blocking_pool::stop(blocking_job& job) noexcept {
  std::lock_guard lock(mu_);
  const auto found = job.st;
  switch (found) {
    case blocking_job::state::queued:
      unlink(job);
      job.st = blocking_job::state::cancelled;
      job.stopped = true;
      break;
    case blocking_job::state::idle:
    case blocking_job::state::running:
      job.stopped = true;
      break;
    case blocking_job::state::finished:
    case blocking_job::state::cancelled:
      break;
  }
  return found;
}

void blocking_pool::thread_main(thread_list::iterator self) noexcept {
  std::unique_lock lock(mu_);
  for (;;) {
    if (blocking_job* job = pop()) {
      job->st = blocking_job::state::running;
      ++busy_;
      lock.unlock();
      job->run(*job);
      lock.lock();
      --busy_;
      job->st = blocking_job::state::finished;
      auto* finish = job->finish;
      lock.unlock();
      // TRICKY: finish resumes the awaiter, which may then free the job
      // (its frame) on a worker at once: nothing touches *job after it.
      finish(*job);
      lock.lock();
      continue;
    }
    if (closed_) break;
    ++idle_;
    const bool woken = work_.wait_for(lock, idle_timeout_, [this] { return head_ || closed_; });
    --idle_;
    if (!woken) break;  // idle too long: retire
  }
  --threads_;
  std::thread previous;
  if (!closed_) {
    // Retiring on its own: hand this thread's handle to the next thread
    // that retires (or to shutdown) to join, and join the one before.
    previous = std::move(retired_);
    retired_ = std::move(*self);
    live_.erase(self);
  }
  lock.unlock();
  if (previous.joinable()) previous.join();
  // fn may have made coroutine frames or sockets on this thread.
  drain_thread_caches();
}

void blocking_pool::shutdown() noexcept {
  blocking_job* cancelled = nullptr;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    // Chained through `next` once unlinked, to finish outside the lock.
    while (blocking_job* job = pop()) {
      job->st = blocking_job::state::cancelled;
      job->stopped = true;
      job->next = cancelled;
      cancelled = job;
    }
    work_.notify_all();
  }
  while (cancelled) {
    blocking_job* next = cancelled->next;  // read first: finish may free it
    cancelled->finish(*cancelled);
    cancelled = next;
  }
  // Once closed_ is set, no thread edits live_ or retired_ any more.
  for (auto& t : live_) {
    if (t.joinable()) t.join();
  }
  if (retired_.joinable()) retired_.join();
}

unsigned blocking_pool::threads() const noexcept {
  std::lock_guard lock(mu_);
  return threads_;
}

}  // namespace corio::detail
