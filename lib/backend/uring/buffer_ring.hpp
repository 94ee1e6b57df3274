// lib/backend/uring/buffer_ring.hpp: one worker's ring of provided buffers
// (IORING_REGISTER_PBUF_RING, kernel 5.19+), from which the kernel picks a
// buffer for a read_pooled only once data has arrived: a connection waiting
// for data holds none.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "corio/detail/pooled.hpp"

namespace corio::detail {

class buffer_ring final : public pooled_home {
 public:
  // Buffers per worker: 256 of pooled_buffer_size (16 KiB), 4 MiB of address
  // space, of which only what the kernel has written to is resident (a
  // small message touches one page of its buffer: 1 MiB once every buffer
  // has been used). Enough for 256 connections to hold a received buffer at
  // once (while they echo it, say); past that a read takes a buffer from
  // the per-thread pool instead (uring_backend::pooled_ready).
  static constexpr unsigned default_entries = 256;
  // The buffer group id of every ring (one ring per io_uring).
  static constexpr std::uint16_t group = 0;

  // Registers a ring of `entries` buffers (a power of two, at most 32768)
  // with `ring`, or says why the kernel refused (EINVAL on kernels before
  // 5.19; the caller then reads through the pool).
  static result<buffer_ring*> create(io_uring& ring, unsigned entries) noexcept;

  // The worker's thread, before its first read: marks it as the owner's, so
  // that buffers released there go straight back to the kernel.
  void attach_thread() noexcept;
  // The owner's thread: the buffer the kernel picked for a completion whose
  // CQE carries `cqe_flags` (IORING_CQE_F_BUFFER set), counted as lent.
  pooled_block* take(std::uint32_t cqe_flags) noexcept;
  // The owner's thread: hands the buffers released on other threads back to
  // the kernel (each poll).
  void reclaim() noexcept {
    if (returned_.load(std::memory_order_relaxed)) reclaim_returned();
  }
  // The owner, as its io_uring is torn down (nothing in flight): unregisters
  // the ring and drops the owner's reference. The memory stays until the
  // last lent buffer is released.
  void detach(io_uring& ring) noexcept;

  // Frees the memory: by the last unref only (create's failures aside).
  ~buffer_ring();

 private:
  buffer_ring() noexcept;
  // pooled_home::give_back: any thread.
  static void return_block(pooled_home* home, pooled_block* b) noexcept;
  // Makes `b` available to the kernel again (owner's thread only).
  void recycle(pooled_block* b) noexcept;
  void reclaim_returned() noexcept;
  void unref() noexcept;

  // One mapping: the ring of buffer descriptors (the kernel reads it), then
  // the buffers.
  void* memory_ = nullptr;
  std::size_t memory_size_ = 0;
  unsigned entries_ = 0;
  int mask_ = 0;
  io_uring_buf_ring* ring_ = nullptr;
  std::unique_ptr<pooled_block[]> blocks_;
  // The owner's reference plus one per lent buffer: the last one frees the
  // memory (a buffer may outlive its runtime).
  std::atomic<std::uint32_t> refs_{1};
  // Buffers released off the owner's thread (a lock-free stack through
  // pooled_block::next), taken whole by the owner's poll.
  std::atomic<pooled_block*> returned_{nullptr};
};

// The ring of the worker running on this thread, if any (set by
// attach_thread; compared, never dereferenced, by return_block).
inline constinit thread_local buffer_ring* tls_buffer_ring = nullptr;

}  // namespace corio::detail
