// lib/core/spawn_root.hpp: the runtime's root scope: every task started by
// runtime::spawn or block_on, its stop token, and the join at shutdown.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stop_token>

#include "corio/join_handle.hpp"
#include "corio/runtime.hpp"

namespace corio::detail {

class spawn_root {
 public:
  // Links `st` (whose task holds a reference) and calls `launch()`, under
  // the lock, so that a shutdown cannot finish between the two; or returns
  // false without calling it once shutdown has begun.
  template <class F>
  bool admit(spawned_base& st, F&& launch) {
    std::lock_guard lock(mu_);
    if (phase_ != phase::open) return false;
    // TRICKY: the root is stopped only after phase_ left `open`, so the
    // callback never runs inline here (under our lock).
    st.root_link_.emplace(stop_.get_token(), spawned_base::forward_stop{&st});
    st.root_ = this;
    st.prev_ = nullptr;
    st.next_ = head_;
    if (head_) head_->prev_ = &st;
    head_ = &st;
    ++live_;
    launch();
    return true;
  }
  // The task of `st` has ended and published its outcome.
  void leave(spawned_base& st) noexcept;

  // Refuses new tasks, waits up to `grace` for the running ones, stops the
  // root token, waits up to `abandon_after` more, gives up on what is left
  // (their waiters get errc::shut_down), then calls `join_workers()`. A
  // second caller waits for the first to finish and gets an empty report.
  template <class F>
  shutdown_report shutdown(std::chrono::milliseconds grace, std::chrono::milliseconds abandon_after,
                           F&& join_workers) {
    shutdown_report report;
    if (!begin_shutdown(grace, abandon_after, report)) return report;
    join_workers();
    end_shutdown();
    return report;
  }

  std::stop_token token() const noexcept { return stop_.get_token(); }
  bool accepting() const;

 private:
  enum class phase { open, closing, closed };
  // False when another caller is (or was) shutting down; it waits for that.
  bool begin_shutdown(std::chrono::milliseconds grace, std::chrono::milliseconds abandon_after,
                      shutdown_report& report);
  void end_shutdown();
  // Waits on idle_ until live_ is 0 or `limit` has passed.
  void wait_idle(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds limit);

  mutable std::mutex mu_;
  std::condition_variable idle_;    // live_ reached 0
  std::condition_variable closed_;  // phase_ reached closed
  phase phase_ = phase::open;
  std::size_t live_ = 0;
  spawned_base* head_ = nullptr;
  std::stop_source stop_;
};

}  // namespace corio::detail
