// lib/backend/uring/multishot_recv.cpp: read_pooled on io_uring over one
// multishot recv per socket (IORING_RECV_MULTISHOT, kernel 6.0+, with the
// worker's buffer ring).
//
// A socket's first read_pooled arms the recv, and it stays in the kernel
// between reads: each arrival of data is one CQE naming the ring buffer it
// went into. The CQE completes the read that waits for it, or queues the
// buffer in the socket's multishot_recv, where the next read finds it and
// completes at once. A connection that reads, writes and reads again
// submits nothing to receive. The rules:
// - Order: a socket has at most one receive in the kernel, and a read takes
//   the queued buffers first, then how the recv ended (0: the peer's FIN).
// - Lifetime: an armed recv holds one `other` use of its socket, dropped at
//   its last CQE (one without IORING_CQE_F_MORE), so the socket is freed
//   only after it; closing the socket shuts it down, which ends the recv.
//   Buffers still queued when the socket is freed go back then
//   (destroy_socket). A worker whose loop ends with receives armed cancels
//   them and takes their last CQEs (drop_armed_receives), so that a stream
//   closed after its runtime is still freed.
// - Back-pressure: once max_queued buffers wait unread, the recv is
//   cancelled; what else arrives waits in the socket (TCP flow control),
//   not in the ring that the worker's other connections share.
// - Threads: the recv belongs to the ring that armed it. A read that starts
//   on another worker (the stream moved) waits for that ring's CQE, which
//   completes it back on the read's own worker (posted), and then stops the
//   recv, so that the next read arms one in its own ring.
// - Plain reads and waits for readability on such a socket are served from
//   it too (copied out of the queued buffers, or waiting for its next CQE)
//   while it is armed or holds data: a second receive in the kernel would
//   take bytes out of order.
// - An empty ring: the recv ends with ENOBUFS; a read that waits then reads
//   into a block of the per-thread pool, as without a ring.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "backend/pooled_recv.hpp"
#include "backend/uring/uring_backend.hpp"
#include "core/fault.hpp"

namespace corio::detail {

// Every socket made on such a worker carries one, idle connections
// included: 32 bytes keep a receiving_core in a 64-byte heap block.
static_assert(sizeof(multishot_recv) <= 32 && sizeof(receiving_core) <= 56,
              "keep an idle connection's socket small");

namespace {

// Unread buffers past which the recv is stopped (64 KiB of 16 KiB buffers).
constexpr std::uint32_t max_queued = 4;

// Holds a socket's multishot_recv. Taken for a few stores at a time; two
// threads meet on it only while a moved stream's read waits for another
// worker's CQE.
class locked {
 public:
  explicit locked(multishot_recv& m) noexcept : m_(m) {
    while (m_.locked.exchange(true, std::memory_order_acquire)) {
      while (m_.locked.load(std::memory_order_relaxed)) {
      }
    }
  }
  ~locked() { m_.locked.store(false, std::memory_order_release); }
  locked(const locked&) = delete;
  locked& operator=(const locked&) = delete;

 private:
  multishot_recv& m_;
};

bool has_received(const multishot_recv& m) noexcept { return m.head || m.ended; }

void queue(multishot_recv& m, pooled_block* b) noexcept {
  b->next = nullptr;
  pooled_block** at = &m.head;
  while (*at) at = &(*at)->next;  // a few at most: the recv stops at max_queued
  *at = b;
  if (m.queued < 255) ++m.queued;
}

pooled_block* pop(multishot_recv& m) noexcept {
  pooled_block* b = m.head;
  m.head = b->next;
  if (m.queued > 0) --m.queued;
  b->next = nullptr;
  return b;
}

// Serves `op` (m has something): a read_pooled takes the oldest buffer, a
// plain read copies from it (what is left moves to its front), a wait for
// readability only hears that there is something; after the buffers, a
// read takes how the recv ended.
void take_received(multishot_recv& m, operation& op) noexcept {
  if (op.code == op_code::wait_readable) {
    op.res = 0;
    return;
  }
  pooled_block* b = m.head;
  if (!b) {
    op.res = m.end;
    m.ended = false;
    return;
  }
  if (op.code == op_code::recv_pooled) {
    op.args.pooled.block = pop(m);
    op.res = b->filled;
    return;
  }
  const std::size_t n = std::min<std::size_t>(op.args.buf.size, b->filled);
  std::memcpy(op.args.buf.data, b->data, n);
  op.res = static_cast<std::int64_t>(n);
  if (n < b->filled) {
    b->filled -= static_cast<std::uint32_t>(n);
    std::memmove(b->data, b->data + n, b->filled);
  } else {
    release_pooled(pop(m));
  }
}

std::uint64_t ud_of(socket_core& s) noexcept {
  return reinterpret_cast<std::uintptr_t>(&s) | ud_multishot;
}

}  // namespace

int uring_backend::start_multishot(operation& op, multishot_recv& m) noexcept {
  socket_core& s = *op.sock;
  {
    locked hold(m);
    if (has_received(m)) {
      take_received(m, op);
      return 0;
    }
    // With no recv armed, a plain read or wait goes to the kernel itself
    // (so does a read_pooled on a ring that keeps none).
    if (!m.armed && (op.code != op_code::recv_pooled || !multishot_)) return -1;
    m.waiter = &op;
    m.waiter_home = this;
    // Armed in another worker's ring (the stream moved): its CQE serves
    // this read.
    if (!m.armed && !arm_multishot(s, m)) {
      m.waiter = nullptr;
      op.res = -EAGAIN;  // no SQE: the read fails now rather than hang (lesson 2)
      return 0;
    }
  }
  return started() ? 1 : 0;
}

bool uring_backend::arm_multishot(socket_core& s, multishot_recv& m) noexcept {
  io_uring_sqe* sqe = fault_hit(fault_site::uring_get_sqe) ? nullptr : vacant_sqe();
  if (!sqe) return false;
  // Length 0: each arrival fills up to one whole ring buffer.
  io_uring_prep_recv_multishot(sqe, static_cast<int>(s.handle), nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffer_ring::group;
  io_uring_sqe_set_data64(sqe, ud_of(s));
  if (!m.used) m.used = true;  // once, by the first read (read unlocked by the others)
  m.armed = true;
  m.stopping = false;
  ++armed_count_;
  s.uses.fetch_add(socket_use::other, std::memory_order_acq_rel);
  return true;
}

bool uring_backend::stop_multishot(socket_core& s) noexcept {
  io_uring_sqe* sqe = fault_hit(fault_site::uring_cancel_submit) ? nullptr : vacant_sqe();
  if (!sqe) return false;  // tried again at its next CQE
  io_uring_prep_cancel64(sqe, ud_of(s), 0);
  io_uring_sqe_set_data64(sqe, ud_ignore);
  return true;
}

void uring_backend::multishot_done(socket_core& s, std::int32_t res, std::uint32_t flags) noexcept {
  multishot_recv* kept = kept_receive(s);  // armed only where there is room
  if (!kept) return;
  multishot_recv& m = *kept;
  pooled_block* got = nullptr;
  if (flags & IORING_CQE_F_BUFFER) {
    pooled_block* b = buffers_->take(flags);
    if (res > 0) {
      b->filled = static_cast<std::uint32_t>(res);
      got = b;
    } else {
      release_pooled(b);
    }
  }
  const bool last = !(flags & IORING_CQE_F_MORE);
  operation* ready = nullptr;  // the waiting read, served
  void* ready_home = nullptr;
  bool reread = false;  // the recv ended with nothing for the waiting read
  {
    locked hold(m);
    if (tearing_down_) m.waiter = nullptr;  // a read of an abandoned task
    if (got) {
      queue(m, got);
    } else if (res == 0 || (res < 0 && res != -ENOBUFS && !(res == -ECANCELED && m.stopping))) {
      // The end of the stream or an error: read after what came before it.
      // ENOBUFS (the ring ran dry) and our own stop are no news to a reader.
      m.ended = true;
      m.end = static_cast<std::int16_t>(res);
    }
    if (last) {
      m.armed = false;
      m.stopping = false;
      --armed_count_;
    }
    if (m.waiter && has_received(m)) {
      ready = std::exchange(m.waiter, nullptr);
      ready_home = m.waiter_home;
      take_received(m, *ready);
    } else if (m.waiter && !m.armed) {
      reread = true;
    }
    // Stop a recv that runs ahead of its reader, or serves a read from
    // another worker (the next read arms one in its own ring).
    if (m.armed && !m.stopping && !tearing_down_ &&
        (m.queued >= max_queued || (ready && ready_home != this)))
      m.stopping = stop_multishot(s);
  }
  if (reread) {
    // Without the lock (a recv call): into a block of this thread's pool,
    // then queued, so that a read cancelled meanwhile loses nothing.
    operation scratch;
    const std::int64_t r = recv_into_pool(static_cast<int>(s.handle), scratch);
    locked hold(m);
    if (r > 0) {
      scratch.args.pooled.block->filled = static_cast<std::uint32_t>(r);
      queue(m, scratch.args.pooled.block);
    } else if (r != -EAGAIN) {
      m.ended = true;
      m.end = static_cast<std::int16_t>(r);
    }
    if (m.waiter) {
      if (has_received(m)) {
        ready = std::exchange(m.waiter, nullptr);
        take_received(m, *ready);
      } else if (!m.armed && !arm_multishot(s, m)) {
        ready = std::exchange(m.waiter, nullptr);
        ready->res = -EAGAIN;  // nothing there and no SQE to wait with
      }
      if (ready) ready_home = m.waiter_home;
    }
  }
  if (ready) {
    if (ready_home == this) {
      finish_here(*ready);
    } else {
      static_cast<uring_backend*>(ready_home)->post(finish_on_own_worker(*ready).handle);
    }
  }
  // Last: this may close and free the socket (it was closed meanwhile).
  if (last) release_socket(s, socket_use::other);
}

bool uring_backend::cancel_multishot_waiter(operation& op, multishot_recv& m) noexcept {
  locked hold(m);
  if (m.waiter != &op) return false;
  m.waiter = nullptr;
  op.res = -ECANCELED;
  op.state = op_state::finished;
  finished_.push_back(&op);
  return true;
}

void uring_backend::finish_here(operation& op) noexcept {
  count_in_flight(-1);
  count_completion(counts, op);
  op.complete(&op);
}

detached uring_backend::finish_on_own_worker(operation& op) {
  this_thread_->finish_here(op);
  co_return;
}

void uring_backend::drop_armed_receives() noexcept {
  if (armed_count_ == 0) return;
  // The worker's loop is over: every request still in the kernel is
  // cancelled, and only the receives' last CQEs are taken (they drop their
  // socket uses, so a stream closed after the runtime is freed); the rest
  // belong to abandoned tasks, which are never resumed.
  tearing_down_ = true;
  io_uring_sqe* sqe = vacant_sqe();
  if (!sqe) return;
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, ud_ignore);
  // Bounded: a receive whose CQE never comes keeps its socket open.
  for (int i = 0; i < 100 && armed_count_ > 0; ++i) {
    __kernel_timespec ts{};
    ts.tv_nsec = 10'000'000;
    io_uring_cqe* first = nullptr;
    (void)io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
    reap();
  }
}

}  // namespace corio::detail
