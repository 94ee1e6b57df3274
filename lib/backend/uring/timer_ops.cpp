// lib/backend/uring/timer_ops.cpp: timers in a per-worker heap whose
// earliest deadline bounds the ring's wait (see timers_ in
// uring_backend.hpp for why not IORING_OP_TIMEOUT).
#include <cerrno>

#include "backend/uring/uring_backend.hpp"

namespace corio::detail {

bool uring_backend::start_timer(operation& op) noexcept {
  // A deadline already passed still completes through the next poll: the
  // awaiter always suspends once, on every backend.
  if (!timers_.push(op)) {
    op.res = -ENOMEM;
    return false;
  }
  op.state = op_state::waiting;
  return started();
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
    count_in_flight(-1);
    count_completion(counts, *op);
    op->complete(op);
  }
  finishing_.clear();
}

}  // namespace corio::detail
