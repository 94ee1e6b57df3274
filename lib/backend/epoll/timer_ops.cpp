// lib/backend/epoll/timer_ops.cpp: timers as a per-worker min-heap whose
// earliest deadline bounds the epoll wait.
#include <cerrno>
#include <chrono>

#include "backend/epoll/epoll_backend.hpp"

namespace corio::detail {

namespace {
// CLOCK_MONOTONIC, the clock of timer_state::deadline_ns.
std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool epoll_backend::start_timer(operation& op, timer_state& st) noexcept {
  if (take_injected_failure()) return fail_now(op, -EAGAIN);
  if (timers_.size() > aux_max_index) return fail_now(op, -ENOMEM);
  try {
    // Allocates only when the heap outgrows everything it has held before.
    timers_.push_back({st.deadline_ns, &op});
  } catch (...) {
    return fail_now(op, -ENOMEM);
  }
  // A deadline already passed still completes through the next poll, as an
  // io_uring timeout does: the awaiter always suspends once.
  sift_up(timers_.size() - 1);
  return started();
}

void epoll_backend::place_timer(std::size_t i, timer_entry e) noexcept {
  timers_[i] = e;
  e.op->aux = aux_pack(kind_timer, i);
}

void epoll_backend::sift_up(std::size_t i) noexcept {
  const timer_entry e = timers_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (timers_[parent].deadline_ns <= e.deadline_ns) break;
    place_timer(i, timers_[parent]);
    i = parent;
  }
  place_timer(i, e);
}

void epoll_backend::sift_down(std::size_t i) noexcept {
  const timer_entry e = timers_[i];
  const std::size_t n = timers_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && timers_[child + 1].deadline_ns < timers_[child].deadline_ns) ++child;
    if (e.deadline_ns <= timers_[child].deadline_ns) break;
    place_timer(i, timers_[child]);
    i = child;
  }
  place_timer(i, e);
}

void epoll_backend::remove_timer(std::size_t i) noexcept {
  const timer_entry last = timers_.back();
  timers_.pop_back();
  if (i == timers_.size()) return;
  // The last entry fills the hole, then moves whichever way it belongs.
  place_timer(i, last);
  sift_down(i);
  sift_up(i);
}

void epoll_backend::expire_timers() noexcept {
  if (timers_.empty()) return;
  const std::int64_t now = now_ns();
  // Timers armed by the coroutines resumed in this poll, even with a
  // deadline already passed, wait for the next one: they go to the heap
  // after this loop has run, through run_completed.
  while (!timers_.empty() && timers_.front().deadline_ns <= now) {
    operation* op = timers_.front().op;
    remove_timer(0);
    complete_later(*op, 0);
  }
}

std::int64_t epoll_backend::time_to_next_timer() const noexcept {
  if (timers_.empty()) return -1;
  std::int64_t left = timers_.front().deadline_ns - now_ns();
  return left > 0 ? left : 0;
}

}  // namespace corio::detail
