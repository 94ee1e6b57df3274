// lib/backend/uring/uring_backend.cpp: the io_uring worker loop, posting and
// wake-up.
#include "backend/uring/uring_backend.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <utility>

#include "core/fault.hpp"
#include "core/log.hpp"
#include "core/sanitized.hpp"
#include "core/shuffle.hpp"
#include "sys/socket.hpp"

#if CORIO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace corio::detail {

uring_backend::uring_backend(io_uring ring, bool enable_on_attach, int wake_fd,
                             std::shared_ptr<uring_group> group, unsigned index) noexcept
    : ring_(ring),
      group_(std::move(group)),
      index_(index),
      enable_on_attach_(enable_on_attach),
      posted_(wake_fd) {}

uring_backend::~uring_backend() {
  if (buffers_) buffers_->detach(ring_);
  io_uring_queue_exit(&ring_);
}

result<void> uring_backend::attach_thread() noexcept {
  if (enable_on_attach_) {
    // The enabling thread becomes the ring's single issuer.
    int r = io_uring_enable_rings(&ring_);
    if (r < 0) return fail(std::error_code(-r, std::generic_category()));
  }
  msgs_.reset(new (std::nothrow) msghdr[ring_.sq.ring_entries]);
  if (!msgs_) return fail(std::errc::not_enough_memory);
  messaged_in_turn_.reset(new (std::nothrow) std::uint64_t[group_->rings.size()]());
  if (!messaged_in_turn_) return fail(std::errc::not_enough_memory);
  // Saves the ring-fd lookup in every io_uring_enter; an old kernel that
  // cannot do it simply keeps the plain fd.
  (void)io_uring_register_ring_fd(&ring_);
  cancels_.reserve(16);
  if (buffers_) buffers_->attach_thread();
  // Sockets made on this thread get room for a kept receive.
  sys::make_receiving_cores = multishot_;
  wake_armed_ = arm_wake_read();
  this_thread_ = this;
  return {};
}

void uring_backend::detach_thread() noexcept {
  // Messages queued by the last turn leave now, as an eventfd post would
  // have at once: a worker still running gets them. (What reaches a worker
  // whose loop has ended is never resumed, by either path: the runtime
  // stops its workers only after every task has ended or been abandoned.)
  if (io_uring_sq_ready(&ring_) != 0) io_uring_submit(&ring_);
  drop_armed_receives();
  sys::make_receiving_cores = false;
  this_thread_ = nullptr;
}

io_uring_sqe* uring_backend::vacant_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    // The submission queue is full: hand it to the kernel and try once more.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

io_uring_sqe* uring_backend::sqe_for(operation& op) noexcept {
  io_uring_sqe* sqe = fault_hit(fault_site::uring_get_sqe) ? nullptr : vacant_sqe();
  if (!sqe) {
    op.res = -EAGAIN;
    return nullptr;
  }
  io_uring_sqe_set_data(sqe, &op);
  return sqe;
}

bool uring_backend::started() noexcept {
  count_in_flight(1);
  return true;
}

bool uring_backend::arm_wake_read() noexcept {
  io_uring_sqe* sqe = fault_hit(fault_site::uring_wake_rearm) ? nullptr : vacant_sqe();
  // No SQE even after a flush: poll() tries again each turn and, until it
  // succeeds, drains the posted queue itself and never blocks.
  if (!sqe) return false;
  io_uring_prep_read(sqe, posted_.fd(), &wake_buf_, sizeof wake_buf_, 0);
  io_uring_sqe_set_data64(sqe, ud_wake);
  return true;
}

void uring_backend::cancel(operation& op) noexcept {
  if (op.code == op_code::timer) {
    // A timer in the heap: take it out and finish it in this poll. One that
    // already fired (no longer waiting, or another timer at its index) is
    // left be.
    const std::size_t index = op.place.timer_index;
    if (op.state == op_state::waiting && timers_.holds(index, op)) {
      timers_.remove(index);
      op.state = op_state::finished;
      op.res = -ECANCELED;
      finished_.push_back(&op);
    }
    return;
  }
  // A read that waits in its socket's multishot recv, not in the kernel.
  if (is_read_code(op.code)) {
    multishot_recv* m = kept_receive(*op.sock);
    if (m && m->used && cancel_multishot_waiter(op, *m)) return;
  }
  if (op.state == op_state::cancelled) return;  // its request already waits for an SQE
  if (submit_cancel(op)) return;
  // No SQE for the request: without one the cancel would be lost, and an
  // operation that never completes on its own (a read from a silent peer)
  // would hang its awaiter. It is kept and submitted by a later poll,
  // unless op completes first (complete() takes it out of the list).
  try {
    cancels_.push_back(&op);
  } catch (...) {
    // Out of memory as well as out of SQEs: nothing left but to say so.
    log_error("io_uring cancel", ENOMEM);
    return;
  }
  op.state = op_state::cancelled;
}

bool uring_backend::submit_cancel(operation& op) noexcept {
  io_uring_sqe* sqe = fault_hit(fault_site::uring_cancel_submit) ? nullptr : vacant_sqe();
  if (!sqe) return false;
  io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
  io_uring_sqe_set_data64(sqe, ud_ignore);
  return true;
}

void uring_backend::retry_deferred() noexcept {
  if (!wake_armed_) {
    wake_armed_ = arm_wake_read();
    // Until the read is armed, posts arrive through this drain only.
    if (!wake_armed_) posted_.drain();
  }
  for (std::size_t i = 0; i < cancels_.size();) {
    operation& op = *cancels_[i];
    if (!submit_cancel(op)) {
      ++i;
      continue;
    }
    op.state = op_state::idle;
    cancels_[i] = cancels_.back();
    cancels_.pop_back();
  }
}

void uring_backend::post(std::coroutine_handle<> h) noexcept {
  // A worker of this runtime sends a message from its own ring: no lock,
  // no eventfd write, and it leaves with that worker's next io_uring_enter
  // (which poll() makes within the turn: a queued SQE always enters). Any
  // other thread may not submit to a single-issuer ring: it posts.
  uring_backend* from = this_thread_;
  if (from != nullptr && from != this && from->group_ == group_ && from->send_message(index_, h))
    return;
  posted_.post(h);
}

bool uring_backend::send_message(unsigned to, std::coroutine_handle<> h) noexcept {
  const auto addr = reinterpret_cast<std::uintptr_t>(h.address());
  if (!group_->messages || (addr & ~ud_address_mask) != 0 || messaged_in_turn_[to] == polls_)
    return false;
  // No SQE: posted instead, at once (no flush here, no post lost).
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) return false;
  // Injected: a descriptor that is not a ring, so the kernel fails the
  // message (EBADF) as it would one to a ring it cannot post to.
  const int fd = fault_hit(fault_site::uring_msg_ring) ? -1 : group_->rings[to].ring_fd;
#if CORIO_TSAN
  __tsan_release(h.address());  // the kernel hands the frame over: see message_done
#endif
  io_uring_prep_msg_ring(sqe, fd, 0, addr | ud_message, 0);
  // Our own CQE only when the message failed, naming where it was going.
  io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
  io_uring_sqe_set_data64(sqe, addr | ud_message_failed | (std::uint64_t{to} << ud_index_shift));
  messaged_in_turn_[to] = polls_;
  return true;
}

void uring_backend::message_done(std::uint64_t ud, std::int32_t res) noexcept {
  // The address of a suspended coroutine frame, put there by send_message.
  auto h = std::coroutine_handle<>::from_address(reinterpret_cast<void*>(ud & ud_address_mask));
  if ((ud & ud_tag_mask) == ud_message) {
#if CORIO_TSAN
    __tsan_acquire(h.address());  // what the sender wrote before send_message
#endif
    bump(counts.posts_received);
    h.resume();
    return;
  }
  if (res >= 0) return;  // ud_message_failed: only failures post a CQE
  // The kernel refused the message (the target's completion queue full:
  // EOVERFLOW; a ring it cannot post to): it goes the other way, so
  // nothing is lost (lesson 2).
  group_->rings[ud >> ud_index_shift].backend->posted_.post(h);
}

void uring_backend::wake() noexcept { posted_.wake(); }

void uring_backend::complete(std::uint64_t ud, std::int32_t res, std::uint32_t flags) noexcept {
  if (ud == ud_ignore) return;
  if (ud == ud_wake) {
    wake_armed_ = arm_wake_read();
    bump(counts.posts_received, posted_.drain());
    return;
  }
  if ((ud & ud_tag_mask) == ud_multishot) {
    multishot_done(*reinterpret_cast<socket_core*>(ud & ~ud_tag_mask), res, flags);
    return;
  }
  if (tearing_down_) return;  // drop_armed_receives: nothing else is resumed
  if ((ud & ud_tag_mask) != 0) {
    message_done(ud, res);
    return;
  }
  // user_data is the address of an operation that this ring started and
  // that stays in its awaiting frame until complete() resumes the frame.
  auto* op = reinterpret_cast<operation*>(static_cast<std::uintptr_t>(ud));
  if (op->state == op_state::cancelled) forget_cancel(*op);
  // A send_file waits for room in the socket with a poll; the sendfile
  // itself runs here (file_ops.cpp).
  if (op->code == op_code::send_file) {
    if (send_file_ready(*op, res)) return;  // polling again; op.res is set otherwise
  } else if (op->code == op_code::recv_pooled) {
    if (pooled_ready(*op, res, flags)) return;  // buffer_ring.cpp
  } else {
    op->res = res;
  }
  count_in_flight(-1);
  count_completion(counts, *op);
  op->complete(op);
}

void uring_backend::forget_cancel(operation& op) noexcept {
  // Rare (a cancel that found no SQE) and the list is short: a scan.
  for (auto& c : cancels_) {
    if (c == &op) {
      c = cancels_.back();
      cancels_.pop_back();
      break;
    }
  }
  op.state = op_state::idle;
}

void uring_backend::enter_failed(int err) noexcept {
  switch (err) {
    case ETIME:  // the wait for the earliest timer ran out: the usual case
    case EINTR:  // a signal; nothing was lost
      return;
    case EAGAIN:  // the kernel could not allocate for the submission right now
    case EBUSY:   // the completion queue is overflowing until it is reaped
    case ENOMEM:
      // The entries stay queued in the ring and are submitted on the next
      // turn, after the completions below have been reaped.
      break;
    default:
      // EBADF, EFAULT, EINVAL, ENXIO, EEXIST (a second issuer on a
      // single-issuer ring), EOWNERDEAD: a ring that refuses every entry.
      // Operations queued in it will not complete; the application must know.
      break;
  }
  if (err == last_enter_error_) return;  // reported once per run of the same error
  last_enter_error_ = err;
  log_error("io_uring_enter", err);
}

void uring_backend::reap() noexcept {
  // Copied out of the ring and the ring advanced first, so the kernel can
  // post into the space while these run.
  struct entry {
    std::uint64_t ud;
    std::int32_t res;
    std::uint32_t flags;  // a provided buffer's id, for read_pooled
  };
  constexpr unsigned batch = 64;
  entry got[batch];
  for (;;) {
    unsigned n = 0, head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      got[n++] = {io_uring_cqe_get_data64(cqe), cqe->res, cqe->flags};
      if (n == batch) break;
    }
    if (n == 0) return;
    io_uring_cq_advance(&ring_, n);
    if (shuffling()) [[unlikely]] {
      // Schedule shaking: the kernel's order is no promise between
      // requests, but a multishot recv's CQEs carry its data in order and
      // its last one ends it (multishot_recv.cpp): those keep their order
      // among the places the shuffle gives them.
      entry kept[batch];
      unsigned k = 0;
      auto multishot = [](const entry& e) { return (e.ud & ud_tag_mask) == ud_multishot; };
      for (unsigned i = 0; i < n; ++i)
        if (multishot(got[i])) kept[k++] = got[i];
      shuffle_batch(got, n);
      k = 0;
      for (unsigned i = 0; i < n; ++i)
        if (multishot(got[i])) got[i] = kept[k++];
    }
    // Each completion first touches its operation, then the coroutine frame
    // it resumes; with many connections both are usually out of cache.
    // Fetch them ahead: the operation two entries on, the frame of the next.
    auto is_op = ud_is_operation;
    auto op_at = [&](unsigned i) { return reinterpret_cast<operation*>(got[i].ud); };
    if (n > 0 && is_op(got[0].ud)) __builtin_prefetch(op_at(0));
    if (n > 1 && is_op(got[1].ud)) __builtin_prefetch(op_at(1));
    for (unsigned i = 0; i < n; ++i) {
      if (i + 2 < n && is_op(got[i + 2].ud)) __builtin_prefetch(op_at(i + 2));
      if (i + 1 < n && is_op(got[i + 1].ud)) __builtin_prefetch(op_at(i + 1)->waiter.address());
      complete(got[i].ud, got[i].res, got[i].flags);
    }
    if (n < batch) return;
  }
}

void uring_backend::poll(bool block) noexcept {
  send_file_inline_left_ = send_file_inline_budget;
  if (buffers_) buffers_->reclaim();  // buffers released on other threads
  ++polls_;  // a new turn for messages (see messaged_in_turn_)
  // What a full submission queue (or an injected fault) kept from being
  // submitted: the wake-up read and cancel requests. While either is still
  // missing the worker does not block: nothing would end the wait.
  if (!wake_armed_ || !cancels_.empty()) {
    retry_deferred();
    if (!wake_armed_ || !cancels_.empty()) block = false;
  }
  // Finished-without-CQE work (a cancelled timer) must not wait for one.
  if (!finished_.empty()) block = false;
  // With work waiting in the worker (coroutines ready to run, finished
  // timers) and nothing queued for the kernel, the ring is entered only
  // every few turns: a coroutine that yields, or arms and cancels a timer,
  // each turn pays no syscall for it.
  if (!block && io_uring_sq_ready(&ring_) == 0 &&
      ++turns_without_enter_ <= max_turns_without_enter) {
    reap();  // what the kernel posted by itself (rings without DEFER_TASKRUN)
    run_finished();
    return;
  }
  turns_without_enter_ = 0;
  const std::int64_t timer_ns = block ? timers_.time_to_next(timer_heap::now()) : -1;
  if (timer_ns == 0) block = false;  // a timer is due: no wait at all
  int r;
  bump(counts.kernel_entries);
  if (fault_hit(fault_site::uring_submit)) {
    r = -EAGAIN;  // the kernel could not allocate for the submission
  } else if (fault_hit(fault_site::cq_overflow)) {
    r = -EBUSY;  // the completion queue overflowed: reap before submitting more
  } else if (!block) {
    r = io_uring_submit_and_get_events(&ring_);
  } else if (timer_ns < 0) {
    blocked_wait waiting(counts);
    r = io_uring_submit_and_wait(&ring_, 1);
  } else {
    blocked_wait waiting(counts);
    // Bounded by the earliest deadline (IORING_ENTER_EXT_ARG: no timeout
    // SQE on kernels 5.11+).
    __kernel_timespec ts{};
    ts.tv_sec = timer_ns / 1'000'000'000;
    ts.tv_nsec = timer_ns % 1'000'000'000;
    io_uring_cqe* first = nullptr;
    r = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
  }
  if (r < 0) {
    enter_failed(-r);
  } else {
    last_enter_error_ = 0;
  }
  reap();
  run_finished();
}

}  // namespace corio::detail
