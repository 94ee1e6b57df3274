// lib/backend/uring/file_ops.cpp: the file operations as io_uring
// submissions (OPENAT, READ, WRITE, FSYNC), and send_file as a POLLOUT poll
// plus a non-blocking sendfile(2) (see docs/backends.md for why not splice).
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>

#include <cerrno>

#include "backend/uring/uring_backend.hpp"
#include "corio/detail/file_io.hpp"
#include "sys/file.hpp"

namespace corio::detail {

static_assert(sizeof(operation) == 64, "an operation stays within one cache line");

bool uring_backend::start_file(operation& op) noexcept {
  if (op.code == op_code::send_file) return send_file_step(op);
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  file_request& req = *op.args.file;
  const int fd = static_cast<int>(req.handle);
  switch (op.code) {
    case op_code::file_open:
      // The kernel copies the path when it takes the SQE; the awaiter keeps
      // it until the completion all the same.
      io_uring_prep_openat(sqe, AT_FDCWD, req.path, posix_open_flags(req.flags),
                           static_cast<mode_t>(req.mode));
      break;
    case op_code::file_read:
      io_uring_prep_read(sqe, fd, req.data, static_cast<unsigned>(req.size), req.offset);
      break;
    case op_code::file_write:
      io_uring_prep_write(sqe, fd, req.data, static_cast<unsigned>(req.size), req.offset);
      break;
    case op_code::file_sync:
      io_uring_prep_fsync(sqe, fd, 0);
      break;
    default:
      break;  // not a file operation: start() handles it
  }
  return started();
}

namespace {

// One sendfile(2) of up to req.size bytes from req.offset, without
// blocking on the socket: the count, or a negated errno (-EAGAIN: full).
std::int64_t send_file_once(int sock, file_request& req) noexcept {
  const std::uint64_t want = req.size < max_file_step ? req.size : max_file_step;
  for (;;) {
    off_t off = static_cast<off_t>(req.offset);
    const ssize_t n = ::sendfile(sock, static_cast<int>(req.handle), &off, want);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace

bool uring_backend::send_file_step(operation& op) noexcept {
  if (send_file_inline_left_ > 0) {
    --send_file_inline_left_;
    const std::int64_t r = send_file_once(static_cast<int>(op.sock->handle), *op.args.file);
    if (r != -EAGAIN) {
      op.res = r;
      return false;
    }
  }
  // No room in the socket (or the inline budget is spent: the poll then
  // completes in the next turn, after the other connections).
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  io_uring_prep_poll_add(sqe, static_cast<int>(op.sock->handle), POLLOUT);
  return started();
}

bool uring_backend::send_file_ready(operation& op, std::int32_t res) noexcept {
  if (res < 0) {  // the poll failed or was cancelled: that is the result
    op.res = res;
    return false;
  }
  // A cancel that arrived as the poll completed found nothing to cancel;
  // its flag ends the transfer here instead.
  if (std::atomic_ref<std::uint8_t>(op.cancel_requested).load(std::memory_order_acquire)) {
    op.res = -ECANCELED;
    return false;
  }
  const std::int64_t r = send_file_once(static_cast<int>(op.sock->handle), *op.args.file);
  if (r != -EAGAIN) {
    op.res = r;
    return false;
  }
  // Woken without room after all (another writer, or a spurious wake-up).
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;  // op.res is -EAGAIN
  io_uring_prep_poll_add(sqe, static_cast<int>(op.sock->handle), POLLOUT);
  return true;
}

}  // namespace corio::detail
