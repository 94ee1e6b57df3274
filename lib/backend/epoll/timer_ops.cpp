// lib/backend/epoll/timer_ops.cpp: timers in a per-worker heap whose
// earliest deadline bounds the epoll wait.
#include <cerrno>

#include "backend/epoll/epoll_backend.hpp"

namespace corio::detail {

bool epoll_backend::start_timer(operation& op, timer_state& st) noexcept {
  if (take_injected_failure()) return fail_now(op, -EAGAIN);
  if (timers_.size() > aux_max_index) return fail_now(op, -ENOMEM);
  // A deadline already passed still completes through the next poll, as on
  // every backend: the awaiter always suspends once.
  if (!timers_.push(st.deadline_ns, op)) return fail_now(op, -ENOMEM);
  return started();
}

void epoll_backend::place_timer(operation& op, std::size_t index) noexcept {
  op.aux = aux_pack(kind_timer, index);
}

void epoll_backend::expire_timers() noexcept {
  // Timers armed by the coroutines resumed in this poll, even with a
  // deadline already passed, wait for the next one: they go to the heap
  // after this loop has run, through run_completed.
  timers_.expire(timer_heap::now(), [this](operation& op) { complete_later(op, 0); });
}

}  // namespace corio::detail
