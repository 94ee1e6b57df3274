// lib/backend/pooled_recv.hpp: a non-blocking recv into a block of this
// thread's read pool, for read_pooled on Linux (epoll always; io_uring
// without a buffer ring, or with it empty). Linux only.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

#include "core/read_pool.hpp"
#include "corio/detail/operation.hpp"

namespace corio::detail {

// The count received (the block then in op.args.pooled.block), 0 at the
// end of the stream, or a negated errno (-EAGAIN: nothing there). A recv
// that brings no data gives the block back at once, so a waiting read
// holds none.
inline std::int64_t recv_into_pool(int fd, operation& op) noexcept {
  pooled_block* b = take_pool_block();
  if (!b) return -ENOMEM;
  ssize_t n;
  do {
    n = ::recv(fd, b->data, b->capacity, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    op.args.pooled.block = b;
    return n;
  }
  const int err = n < 0 ? errno : 0;
  release_pooled(b);
  return -err;
}

}  // namespace corio::detail
