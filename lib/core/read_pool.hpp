// lib/core/read_pool.hpp: the per-thread pool of receive buffers behind
// read_pooled on epoll and IOCP, and behind io_uring's fallback (no buffer
// ring, or the ring ran dry).
#pragma once

#include "corio/detail/pooled.hpp"

namespace corio::detail {

// take_pool_block: declared in corio/detail/pooled.hpp (buffered_reader uses it).

// Frees the blocks the calling thread keeps (a worker's thread, as it
// ends: drain_thread_caches).
void drain_read_pool() noexcept;
// Frees the blocks the shared depot keeps (release_free_memory).
void drain_read_depot() noexcept;

}  // namespace corio::detail
