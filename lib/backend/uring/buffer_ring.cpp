// lib/backend/uring/buffer_ring.cpp: the provided-buffer ring of one
// io_uring worker, and read_pooled on io_uring (op_code::recv_pooled).
#include "backend/uring/buffer_ring.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <new>

#include "backend/pooled_recv.hpp"
#include "backend/uring/uring_backend.hpp"

namespace corio::detail {

// ---- The ring ----------------------------------------------------------------

buffer_ring::buffer_ring() noexcept { give_back = &buffer_ring::return_block; }

buffer_ring::~buffer_ring() {
  if (memory_) ::munmap(memory_, memory_size_);
}

result<buffer_ring*> buffer_ring::create(io_uring& ring, unsigned entries) noexcept {
  std::unique_ptr<buffer_ring> r(new (std::nothrow) buffer_ring);
  if (!r) return fail(std::errc::not_enough_memory);
  r->entries_ = entries;
  r->mask_ = io_uring_buf_ring_mask(entries);
  r->blocks_.reset(new (std::nothrow) pooled_block[entries]);
  if (!r->blocks_) return fail(std::errc::not_enough_memory);
  // The descriptors first (page-aligned, as the kernel wants), then the
  // buffers; anonymous memory is resident only once written.
  const std::size_t ring_bytes = (entries * sizeof(io_uring_buf) + 4095) & ~std::size_t{4095};
  r->memory_size_ = ring_bytes + std::size_t{entries} * pooled_buffer_size;
  void* m = ::mmap(nullptr, r->memory_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (m == MAP_FAILED) return fail(std::error_code(errno, std::generic_category()));
  r->memory_ = m;
  r->ring_ = static_cast<io_uring_buf_ring*>(m);
  // liburing 2.3 has no io_uring_setup_buf_ring: registered by hand.
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(m);
  reg.ring_entries = entries;
  reg.bgid = group;
  if (int e = io_uring_register_buf_ring(&ring, &reg, 0); e < 0)
    return fail(std::error_code(-e, std::generic_category()));
  io_uring_buf_ring_init(r->ring_);
  auto* data = static_cast<std::byte*>(m) + ring_bytes;
  for (unsigned i = 0; i < entries; ++i) {
    pooled_block& b = r->blocks_[i];
    b.data = data + std::size_t{i} * pooled_buffer_size;
    b.capacity = pooled_buffer_size;
    b.id = static_cast<std::uint16_t>(i);
    b.home = r.get();
    io_uring_buf_ring_add(r->ring_, b.data, b.capacity, b.id, r->mask_, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(r->ring_, static_cast<int>(entries));
  return r.release();
}

void buffer_ring::attach_thread() noexcept { tls_buffer_ring = this; }

pooled_block* buffer_ring::take(std::uint32_t cqe_flags) noexcept {
  const unsigned id = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
  refs_.fetch_add(1, std::memory_order_relaxed);
  return &blocks_[id % entries_];
}

void buffer_ring::recycle(pooled_block* b) noexcept {
  io_uring_buf_ring_add(ring_, b->data, b->capacity, b->id, mask_, 0);
  io_uring_buf_ring_advance(ring_, 1);
}

void buffer_ring::return_block(pooled_home* home, pooled_block* b) noexcept {
  auto* self = static_cast<buffer_ring*>(home);
  if (tls_buffer_ring == self) {
    // The owner's thread: straight back to the kernel.
    self->recycle(b);
  } else {
    // Another thread: the owner's next poll hands it back (the ring's tail
    // is the owner's alone to move).
    pooled_block* head = self->returned_.load(std::memory_order_relaxed);
    do {
      b->next = head;
    } while (!self->returned_.compare_exchange_weak(head, b, std::memory_order_release,
                                                    std::memory_order_relaxed));
  }
  self->unref();
}

void buffer_ring::reclaim_returned() noexcept {
  pooled_block* b = returned_.exchange(nullptr, std::memory_order_acquire);
  unsigned n = 0;
  for (; b; b = b->next, ++n)
    io_uring_buf_ring_add(ring_, b->data, b->capacity, b->id, mask_, static_cast<int>(n));
  io_uring_buf_ring_advance(ring_, static_cast<int>(n));
}

void buffer_ring::unref() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void buffer_ring::detach(io_uring& ring) noexcept {
  (void)io_uring_unregister_buf_ring(&ring, group);
  unref();
}

// ---- read_pooled on io_uring ----------------------------------------------------

void uring_backend::prepare_pooled(io_uring_sqe* sqe, operation& op) noexcept {
  const int fd = static_cast<int>(op.sock->handle);
  if (buffers_) {
    // No buffer is held while the read waits: the kernel takes one from the
    // ring once data is there, and names it in the CQE's flags.
    io_uring_prep_recv(sqe, fd, nullptr, pooled_buffer_size, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_ring::group;
    op.args.pooled.step = step_select;
  } else {
    // No ring (an old kernel, or the test hook): wait without a buffer, then
    // read into a pool block.
    io_uring_prep_poll_add(sqe, fd, POLLIN);
    op.args.pooled.step = step_poll;
  }
}

bool uring_backend::pooled_ready(operation& op, std::int32_t res, std::uint32_t flags) noexcept {
  if (flags & IORING_CQE_F_BUFFER) {
    pooled_block* b = buffers_->take(flags);
    if (res > 0) {
      op.args.pooled.block = b;
      op.res = res;
      return false;
    }
    release_pooled(b);  // the end of the stream, or an error
  }
  // ENOBUFS: data has arrived but the ring is empty (every buffer is lent
  // out). Reading it into a pool block now loses nothing, and asking the
  // ring again would only fail again (a busy loop) until a buffer comes back.
  const bool readable = (op.args.pooled.step == step_select && res == -ENOBUFS) ||
                        (op.args.pooled.step == step_poll && res >= 0);
  if (!readable) {
    op.res = res;
    return false;
  }
  const int fd = static_cast<int>(op.sock->handle);
  if (const std::int64_t r = recv_into_pool(fd, op); r != -EAGAIN) {
    op.res = r;  // data, 0 at the end of the stream, or the error
    return false;
  }
  // Nothing there after all (a wake-up without data): wait for readability
  // again, without a buffer. A cancel that arrived as the poll completed
  // found nothing to cancel; its flag ends the read here instead.
  if (std::atomic_ref<std::uint8_t>(op.cancel_requested).load(std::memory_order_acquire)) {
    op.res = -ECANCELED;
    return false;
  }
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;  // op.res is -EAGAIN
  io_uring_prep_poll_add(sqe, fd, POLLIN);
  op.args.pooled.step = step_poll;
  return true;
}

}  // namespace corio::detail
