// lib/backend/epoll/timer_ops.cpp: timers in a per-worker heap whose
// earliest deadline bounds the epoll wait.
#include <cerrno>

#include "backend/epoll/epoll_backend.hpp"

namespace corio::detail {

bool epoll_backend::start_timer(operation& op) noexcept {
  // A deadline already passed still completes through the next poll, as on
  // every backend: the awaiter always suspends once.
  if (!timers_.push(op)) return fail_now(op, -ENOMEM);
  op.state = op_state::waiting;
  return started();
}

void epoll_backend::expire_timers() noexcept {
  // Timers armed by the coroutines resumed in this poll, even with a
  // deadline already passed, wait for the next one: they go to the heap
  // after this loop has run, through run_completed.
  timers_.expire(timer_heap::now(), [this](operation& op) { complete_later(op, 0); });
}

}  // namespace corio::detail
