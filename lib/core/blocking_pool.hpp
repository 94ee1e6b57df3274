// lib/core/blocking_pool.hpp: the threads that run spawn_blocking's jobs
// (and resolve's getaddrinfo) for one runtime.
//
// A FIFO of jobs linked through the jobs themselves (they live in their
// awaiters' frames: queueing allocates nothing), one mutex and condition
// variable, and up to `max_threads` threads started on demand: a job queued
// while every thread is busy starts a new one, until the bound. A thread
// that waits longer than `idle` for a job ends; the next to end (or the
// shutdown) joins it, so no thread is ever detached.
#pragma once

#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <system_error>
#include <thread>

#include "corio/blocking.hpp"

namespace corio::detail {

class blocking_pool {
 public:
  blocking_pool(unsigned max_threads, std::chrono::milliseconds idle) noexcept;
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  // See submit_blocking and stop_blocking in corio/blocking.hpp.
  std::error_code submit(blocking_job& job) noexcept;
  blocking_job::state stop(blocking_job& job) noexcept;

  // Refuses new jobs, cancels the queued ones (their `finish` runs here,
  // on the calling thread), waits for the running ones and joins every
  // thread. Idempotent.
  void shutdown() noexcept;

  // Threads alive now (running a job or idle).
  unsigned threads() const noexcept;

 private:
  using thread_list = std::list<std::thread>;
  void thread_main(thread_list::iterator self) noexcept;
  void push(blocking_job& job) noexcept;
  blocking_job* pop() noexcept;
  void unlink(blocking_job& job) noexcept;

  const unsigned max_threads_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mu_;
  std::condition_variable work_;  // a job was queued, or the pool closed
  blocking_job* head_ = nullptr;
  blocking_job* tail_ = nullptr;
  std::size_t queued_ = 0;
  unsigned threads_ = 0;  // alive
  unsigned idle_ = 0;     // waiting in work_
  unsigned busy_ = 0;     // inside a job's run()
  bool closed_ = false;
  thread_list live_;      // one per thread alive (guarded by mu_ until closed_)
  std::thread retired_;   // the last thread that ended on its own, to join
};

}  // namespace corio::detail
