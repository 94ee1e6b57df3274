// corio/detail/pooled.hpp: the runtime-owned buffers that read_pooled
// returns, and its awaiter. The backends fill them (io_uring from a buffer
// ring registered with the kernel; epoll, IOCP and io_uring's fallback from
// a per-thread pool: lib/core/read_pool.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "corio/detail/socket.hpp"

namespace corio::detail {

struct pooled_block;

/// Where a block goes back when its user releases it: a buffer ring (one
/// per io_uring worker) gives it back to the kernel. Blocks of the
/// per-thread pool have no home (null) and go back to the pool of the
/// thread that releases them.
struct pooled_home {
  // Any thread: takes `b` back.
  void (*give_back)(pooled_home* home, pooled_block* b) noexcept;
};

/// One runtime-owned receive buffer.
struct pooled_block {
  std::byte* data = nullptr;       // the buffer
  std::uint32_t capacity = 0;      // its size
  std::uint16_t id = 0;            // a buffer ring's buffer id (the kernel names it so)
  std::uint32_t filled = 0;        // bytes received, while it waits in a multishot_recv
  pooled_home* home = nullptr;     // where it goes back; null: the pool
  pooled_block* next = nullptr;    // a free list or a cross-thread return list
};

/// The size of every pooled buffer: one read takes at most this much.
inline constexpr std::uint32_t pooled_buffer_size = 16 * 1024;

/// Any thread: gives `b` back to its ring or pool.
void release_pooled(pooled_block* b) noexcept;

/// A block (capacity pooled_buffer_size, no home) from the calling thread's
/// free list, allocated when the list is empty; nullptr when out of memory.
/// The backends read into these (lib/core/read_pool.cpp); buffered_reader
/// keeps a record split across reads in one.
pooled_block* take_pool_block() noexcept;

}  // namespace corio::detail
