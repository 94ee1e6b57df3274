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
#include <new>

#include "backend/iocp/iocp_backend.hpp"
#include "core/fault.hpp"

namespace corio::detail {

// ---------------------------------------------------------------------------
// timer_queue

void timer_queue::place(std::size_t i, const entry& e) noexcept {
  heap_[i] = e;
  e.op->place.timer_index = static_cast<std::uint32_t>(i);
}

void timer_queue::sift_up(std::size_t i) noexcept {
  const entry e = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!before(e, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, e);
}

void timer_queue::sift_down(std::size_t i) noexcept {
  const entry e = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], e)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, e);
}

void timer_queue::erase_at(std::size_t i) noexcept {
  heap_[i].op->state = op_state::finished;
  const entry last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  place(i, last);
  // The moved entry may belong above or below its new place.
  if (i > 0 && before(last, heap_[(i - 1) / 2])) {
    sift_up(i);
  } else {
    sift_down(i);
  }
}

void timer_queue::publish_earliest() noexcept {
  earliest_.store(heap_.empty() ? none : heap_.front().deadline, std::memory_order_relaxed);
}

timer_queue::added timer_queue::add(operation& op) {
  std::lock_guard lock(mu_);
  if (op.state == op_state::cancelled) return added::cancelled;
  if (detail::fault_hit(fault_site::timer_alloc)) throw std::bad_alloc();
  heap_.push_back({op.args.deadline_ns, seq_++, &op});
  op.state = op_state::waiting;
  sift_up(heap_.size() - 1);
  publish_earliest();
  return heap_.front().op == &op ? added::earliest : added::later;
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
  erase_at(op.place.timer_index);
  publish_earliest();
  return true;
}

void timer_queue::take_due(std::int64_t now, std::vector<operation*>& out) {
  std::lock_guard lock(mu_);
  while (!heap_.empty() && heap_.front().deadline <= now) {
    out.push_back(heap_.front().op);
    erase_at(0);
  }
  publish_earliest();
}

// ---------------------------------------------------------------------------
// start_timer

bool iocp_backend::start_timer(operation& op) noexcept {
  // Not op.state: add() sets it under the timer lock, which a concurrent
  // cancel takes too.
  op.overlapped = {};
  started();
  timer_queue::added where;
  try {
    where = port_->timers.add(op);
  } catch (const std::bad_alloc&) {
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
