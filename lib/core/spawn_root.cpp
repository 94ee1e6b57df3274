// lib/core/spawn_root.cpp: the runtime's root scope.
#include "core/spawn_root.hpp"

#include <stdexcept>
#include <string>

namespace corio::detail {

void leave_root(spawned_base& st) noexcept { st.root_->leave(st); }

void check_may_block(const char* what) {
  if (on_worker())
    throw std::logic_error(std::string("corio: ") + what +
                           " blocks the thread; on a runtime worker use co_await");
}

void spawn_root::leave(spawned_base& st) noexcept {
  // Outside our lock: if shutdown is running the root's stop callbacks
  // right now, this waits for st's to return, and that one takes no lock.
  st.root_link_.reset();
  std::lock_guard lock(mu_);
  if (st.prev_) {
    st.prev_->next_ = st.next_;
  } else {
    head_ = st.next_;
  }
  if (st.next_) st.next_->prev_ = st.prev_;
  st.prev_ = st.next_ = nullptr;
  if (--live_ == 0) idle_.notify_all();
}

bool spawn_root::accepting() const {
  std::lock_guard lock(mu_);
  return phase_ == phase::open;
}

void spawn_root::wait_idle(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds limit) {
  auto idle = [this] { return live_ == 0; };
  if (limit <= limit.zero()) return;
  auto now = std::chrono::steady_clock::now();
  // A limit past the clock's range waits without one (no overflow).
  if (std::chrono::duration<double>(limit) >=
      std::chrono::duration<double>(std::chrono::steady_clock::time_point::max() - now)) {
    idle_.wait(lock, idle);
  } else {
    idle_.wait_until(lock, now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit),
                     idle);
  }
}

bool spawn_root::begin_shutdown(std::chrono::milliseconds grace,
                                std::chrono::milliseconds abandon_after,
                                shutdown_report& report) {
  std::unique_lock lock(mu_);
  if (phase_ != phase::open) {
    closed_.wait(lock, [this] { return phase_ == phase::closed; });
    return false;
  }
  phase_ = phase::closing;  // from here on, admit() refuses
  const std::size_t at_start = live_;
  wait_idle(lock, grace);
  const std::size_t at_stop = live_;
  lock.unlock();
  // Outside the lock: the callbacks reach the tasks' own tokens, and from
  // there whatever the tasks registered.
  stop_.request_stop();
  lock.lock();
  wait_idle(lock, abandon_after);
  report.finished = at_start - at_stop;
  report.stopped = at_stop - live_;
  report.abandoned = live_;
  // What is left ignored its token (or waits on something that cannot be
  // cancelled). Its frames are never resumed again and never freed: an
  // operation of theirs may still name them. Their waiters are told.
  for (spawned_base* st = head_; st; st = st->next_) st->finish(make_error_code(errc::shut_down));
  return true;
}

void spawn_root::end_shutdown() {
  std::lock_guard lock(mu_);
  phase_ = phase::closed;
  closed_.notify_all();
}

}  // namespace corio::detail
