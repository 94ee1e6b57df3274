// lib/core/read_pool.hpp: the per-thread pool of receive buffers behind
// read_pooled on epoll and IOCP, and behind io_uring's fallback (no buffer
// ring, or the ring ran dry).
#pragma once

#include "corio/detail/pooled.hpp"

namespace corio::detail {

// A pooled buffer (capacity pooled_buffer_size, no home) from the calling
// thread's free list, allocated when the list is empty; nullptr when out of
// memory.
pooled_block* take_pool_block() noexcept;

// Frees the blocks the calling thread keeps (a worker's thread, as it
// ends: drain_thread_caches).
void drain_read_pool() noexcept;
// Frees the blocks the shared depot keeps (release_free_memory).
void drain_read_depot() noexcept;

}  // namespace corio::detail
