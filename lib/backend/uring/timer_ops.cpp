// lib/backend/uring/timer_ops.cpp: timers in a per-worker heap whose
// earliest deadline bounds the ring's wait (see timers_ in
// uring_backend.hpp for why not IORING_OP_TIMEOUT).
#include <cerrno>

#include "backend/uring/uring_backend.hpp"

namespace corio::detail {

bool uring_backend::start_timer(operation& op) noexcept {
  // A deadline already passed still completes through the next poll: the
  // awaiter always suspends once, on every backend.
  if (timers_.size() >= UINT32_MAX || !timers_.push(op.args.deadline_ns, op)) {
    op.res = -ENOMEM;
    return false;
  }
  op.state = op_state::waiting;
  return started();
}

void uring_backend::place_timer(operation& op, std::size_t index) noexcept {
  op.place.timer_index = static_cast<std::uint32_t>(index);
}

void uring_backend::run_finished() noexcept {
  // Timers due now join the finished list; those that the resumed
  // coroutines arm, even already due, wait for the next poll.
  timers_.expire(timer_heap::now(), [this](operation& op) {
    op.state = op_state::finished;
    op.res = 0;
    finished_.push_back(&op);
  });
  if (finished_.empty()) return;
  finishing_.swap(finished_);
  for (operation* op : finishing_) {
    op->state = op_state::idle;
    in_flight_.store(in_flight_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    op->complete(op);
  }
  finishing_.clear();
}

}  // namespace corio::detail
