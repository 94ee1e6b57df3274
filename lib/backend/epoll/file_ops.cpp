// lib/backend/epoll/file_ops.cpp: the file operations on the blocking pool.
// epoll cannot wait for a regular file (it is always "ready", and a read
// that misses the page cache blocks anyway), so each call is a blocking
// pread/pwrite/fsync/open on a pool thread, and its result comes back to the
// worker that started it through pool_done_. An open whose path the kernel
// has cached, and a read whose bytes are all in the page cache, cannot
// block: those are first tried on the worker, as io_uring does, and skip
// the pool's two thread hand-offs.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "backend/epoll/epoll_backend.hpp"
#include "sys/file.hpp"

namespace corio::detail {

namespace {

// The blocking call of `req` (code `code`): >= 0, or a negated errno.
std::int64_t run_file_call(op_code code, file_request& req) noexcept {
  const int fd = static_cast<int>(req.handle);
  for (;;) {
    std::int64_t r = -EINVAL;
    switch (code) {
      case op_code::file_open:
        r = ::open(req.path, posix_open_flags(req.flags), static_cast<mode_t>(req.mode));
        break;
      case op_code::file_read:
        r = ::pread(fd, req.data, req.size, static_cast<off_t>(req.offset));
        break;
      case op_code::file_write:
        r = ::pwrite(fd, req.data, req.size, static_cast<off_t>(req.offset));
        break;
      case op_code::file_sync:
        r = ::fsync(fd);
        break;
      default:
        return -EINVAL;
    }
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

// Cleared once the kernel refuses openat2 with RESOLVE_CACHED: ENOSYS
// before Linux 5.6, EINVAL from 5.6 to 5.11 (the flags passed are ones
// open(2) takes, so EINVAL means the resolve flag).
std::atomic<bool> have_cached_open{true};

// The call of `req` if it can finish without blocking: an open whose every
// path component is in the kernel's lookup cache (openat2 RESOLVE_CACHED,
// Linux 5.12; an open that creates or truncates never qualifies), or a
// read whose bytes are all in the page cache (preadv2 RWF_NOWAIT). The
// result (>= 0 or a negated errno), or -EAGAIN: it would block, or the
// kernel cannot tell, so the pool runs it.
std::int64_t try_without_blocking(op_code code, file_request& req) noexcept {
  if (code == op_code::file_open) {
    const int flags = posix_open_flags(req.flags);
    if ((flags & (O_CREAT | O_TRUNC)) != 0 || !have_cached_open.load(std::memory_order_relaxed))
      return -EAGAIN;
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = RESOLVE_CACHED;
    const long fd = ::syscall(SYS_openat2, AT_FDCWD, req.path, &how, sizeof how);
    if (fd >= 0) return fd;
    // The pool's open(2) gives the real answer.
    if (errno == ENOSYS || errno == EINVAL) have_cached_open.store(false, std::memory_order_relaxed);
    if (errno == ENOSYS || errno == EINVAL || errno == EINTR) return -EAGAIN;
    return -errno;  // EAGAIN (not cached) included
  }
  if (code == op_code::file_read) {
    // A part of the bytes may be cached and the rest not, and read_at
    // promises a short count only at the end of the file: a short read is
    // followed until the end (0) or a part that is not cached (then the
    // pool reads it all).
    std::uint64_t got = 0;
    for (;;) {
      iovec iov{static_cast<std::byte*>(req.data) + got, static_cast<std::size_t>(req.size - got)};
      const ssize_t n = ::preadv2(static_cast<int>(req.handle), &iov, 1,
                                  static_cast<off_t>(req.offset + got), RWF_NOWAIT);
      if (n > 0) {
        got += static_cast<std::uint64_t>(n);
        if (got == req.size) return static_cast<std::int64_t>(got);
      } else if (n == 0) {
        return static_cast<std::int64_t>(got);  // the end of the file
      } else if (errno == EAGAIN || errno == EOPNOTSUPP || errno == EINTR) {
        return -EAGAIN;
      } else {
        return got > 0 ? static_cast<std::int64_t>(got) : -errno;
      }
    }
  }
  return -EAGAIN;
}

}  // namespace

bool epoll_backend::start_on_pool(operation& op) noexcept {
  file_request& req = *op.args.file;
  if (const std::int64_t r = try_without_blocking(op.code, req); r != -EAGAIN) return finish(op, r);
  req.job.pool = current_blocking_pool();
  if (!req.job.pool) return fail_now(op, -EOPNOTSUPP);
  req.job.request = &req;
  req.job.run = &run_on_pool;
  req.job.finish = &finish_on_pool;
  req.job.st = blocking_job::state::idle;
  req.job.stopped = false;
  req.op = &op;
  req.owner = this;
  // What a job the pool cancels at shutdown (run() never called) reports.
  req.res = -ECANCELED;
  op.state = op_state::waiting;
  if (auto ec = submit_blocking(req.job)) {
    // Lesson 2: refused (no pool thread could start, or shutting down):
    // finished now with the error, nothing waits for the pool.
    op.state = op_state::idle;
    return fail_now(op, -ec.value());
  }
  return started();
}

void epoll_backend::run_on_pool(blocking_job& job) noexcept {
  file_request& req = *static_cast<file_request::pool_job&>(job).request;
  req.res = run_file_call(req.op->code, req);
}

void epoll_backend::finish_on_pool(blocking_job& job) noexcept {
  file_request& req = *static_cast<file_request::pool_job&>(job).request;
  auto* self = static_cast<epoll_backend*>(req.owner);
  // TRICKY: once pushed, the owner may complete the operation and its
  // coroutine free the request at any moment: nothing of `req` is touched
  // after the exchange succeeds. The backend itself outlives the pool (the
  // runtime shuts the pool down before it stops its workers).
  file_request* head = self->pool_done_.load(std::memory_order_relaxed);
  do {
    req.next_done = head;
  } while (!self->pool_done_.compare_exchange_weak(head, &req, std::memory_order_release,
                                                   std::memory_order_relaxed));
  self->wake();
}

void epoll_backend::run_pool_done() noexcept {
  if (!pool_done_.load(std::memory_order_relaxed)) return;
  file_request* list = pool_done_.exchange(nullptr, std::memory_order_acquire);
  // The stack is newest first; complete in the order they finished.
  file_request* ordered = nullptr;
  while (list) {
    file_request* next = list->next_done;
    list->next_done = ordered;
    ordered = list;
    list = next;
  }
  while (ordered) {
    file_request* next = ordered->next_done;  // read before the coroutine may free it
    complete(*ordered->op, ordered->res);
    ordered = next;
  }
}

bool epoll_backend::cancel_on_pool(operation& op) noexcept {
  if (op.state != op_state::waiting) return false;
  file_request& req = *op.args.file;
  // Only a call still queued can be taken back; one that a pool thread is
  // running finishes with its own result (a read or write that happened is
  // never reported as cancelled), and one already finished is in pool_done_.
  if (stop_blocking(req.job) != blocking_job::state::queued) return false;
  complete_later(op, -ECANCELED);
  return true;
}

}  // namespace corio::detail
