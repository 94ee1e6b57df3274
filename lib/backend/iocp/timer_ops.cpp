// lib/backend/iocp/timer_ops.cpp: timers, in one heap per port.
//
// Why not a kernel timer per operation: a waitable timer is a handle and a
// system call to set up per sleep, and to reach the port each needs either
// a thread waiting on it or the thread pool. Instead the earliest deadline
// bounds how long a worker blocks in GetQueuedCompletionStatusEx, and the
// worker that wakes fires what is due. The cost: when several workers are
// idle, each waits for the same earliest deadline and all of them wake
// then (only one finds the timer). Inserting a timer that becomes the
// earliest posts one packet so that some blocked worker shortens its wait.
#include "backend/iocp/iocp_backend.hpp"

namespace corio::detail {

// ---------------------------------------------------------------------------
// timer_queue

void timer_queue::publish_earliest() noexcept {
  earliest_.store(heap_.next_deadline_or(none), std::memory_order_relaxed);
}

timer_queue::added timer_queue::add(operation& op) noexcept {
  std::lock_guard lock(mu_);
  if (op.state == op_state::cancelled) return added::cancelled;
  if (!heap_.push(op)) return added::no_memory;
  op.state = op_state::waiting;
  publish_earliest();
  return heap_.is_first(op) ? added::earliest : added::later;
}

bool timer_queue::remove(operation& op) noexcept {
  std::lock_guard lock(mu_);
  if (op.state == op_state::idle) {
    // TRICKY: cancelled before its start (with_timeout starts its timer
    // after the operation, whose completion on another worker may cancel
    // the timer first). Leave a mark for add(), which takes this lock too.
    op.state = op_state::cancelled;
    return false;
  }
  // Under the lock, the state is exact: `finished` once take_due or remove
  // took it out.
  if (op.state != op_state::waiting) return false;
  heap_.remove(op.place.timer_index);
  op.state = op_state::finished;
  publish_earliest();
  return true;
}

void timer_queue::take_due(std::int64_t now, std::vector<operation*>& out) {
  std::lock_guard lock(mu_);
  // `out` is a worker's scratch list, which keeps its capacity: it grows
  // only past the most timers ever due at once.
  heap_.expire(now, [&out](operation& op) {
    op.state = op_state::finished;
    out.push_back(&op);
  });
  publish_earliest();
}

// ---------------------------------------------------------------------------
// start_timer

bool iocp_backend::start_timer(operation& op) noexcept {
  // Not op.state: add() sets it under the timer lock, which a concurrent
  // cancel takes too.
  op.overlapped = {};
  started();
  const timer_queue::added where = port_->timers.add(op);
  if (where == timer_queue::added::no_memory) {
    finished();
    return fail_now(op, win::res_from_errc(std::errc::not_enough_memory));
  }
  if (where == timer_queue::added::cancelled) {
    finished();
    return fail_now(op, win::res_from_win32(ERROR_OPERATION_ABORTED));
  }
  // TRICKY: from here on another worker may already have fired the timer
  // (a deadline in the past fires at that worker's next poll) and resumed
  // the coroutine, so op may not be touched: `where` was decided under the
  // heap's lock.
  if (where == timer_queue::added::earliest) {
    // Some worker may be blocked with a longer timeout: wake one. If the
    // packet is refused, this worker still sees the deadline when it next
    // blocks, so the timer is late at worst, never lost.
    port_->post_packet(key_kick, nullptr);
  }
  return true;
}

}  // namespace corio::detail
