// lib/backend/iocp/file_ops.cpp: files on the completion port. Reads and
// writes are overlapped ReadFile/WriteFile at the OVERLAPPED's offset on a
// handle associated with the port; send_file is TransmitFile on the socket.
// Opening (CreateFileW) and FlushFileBuffers have no overlapped form: they
// run on the blocking pool, whose thread posts the finished operation to
// the port (key_ready).
#include "backend/iocp/iocp_backend.hpp"
// iocp_backend.hpp first: it includes <winsock2.h> before <windows.h>.

#include <mswsock.h>

#include <algorithm>

#include "sys/file.hpp"

namespace corio::detail {

namespace {

HANDLE handle_of(const file_request& req) noexcept { return reinterpret_cast<HANDLE>(req.handle); }

void set_offset(operation& op, std::uint64_t offset) noexcept {
  OVERLAPPED* ov = overlapped_of(op);
  ov->Offset = static_cast<DWORD>(offset);
  ov->OffsetHigh = static_cast<DWORD>(offset >> 32);
}

}  // namespace

bool iocp_backend::start_file(operation& op) noexcept {
  file_request& req = *op.args.file;
  op.overlapped = {};
  switch (op.code) {
    case op_code::file_open:
    case op_code::file_sync:
      return start_on_pool(op);
    case op_code::send_file:
      return start_send_file(op);
    case op_code::file_read:
    case op_code::file_write: {
      set_offset(op, req.offset);
      const DWORD len = static_cast<DWORD>(std::min<std::uint64_t>(req.size, max_file_step));
      started();
      // No byte count out-parameter (null with an OVERLAPPED, as Microsoft
      // advises): a synchronous result is read from the OVERLAPPED. Every
      // file handle skips the port on success (open_file), so a
      // synchronous completion queues no packet and finishes here.
      const BOOL ok = op.code == op_code::file_read
                          ? ::ReadFile(handle_of(req), req.data, len, nullptr, overlapped_of(op))
                          : ::WriteFile(handle_of(req), req.data, len, nullptr, overlapped_of(op));
      return after_start(op, ok != FALSE, true, ok ? 0 : ::GetLastError());
    }
    default:
      return fail_now(op, win::res_from_errc(std::errc::invalid_argument));
  }
}

bool iocp_backend::start_send_file(operation& op) noexcept {
  const auto skip = associate(*op.sock);
  if (!skip) {
    const std::error_code& ec = skip.error();
    return fail_now(op, ec.category() == win::win32_category()
                            ? win::res_from_win32(static_cast<DWORD>(ec.value()))
                            : -static_cast<std::int64_t>(ec.value()));
  }
  file_request& req = *op.args.file;
  set_offset(op, req.offset);
  // One step sends at most transmit_step bytes. A cancelled TransmitFile
  // reports no count (Wine 8 says 0 bytes however much went out), so the
  // bytes of the step in flight at a cancel are not in send_file's
  // progress: smaller steps bound how far the peer may be ahead of it.
  constexpr std::uint64_t transmit_step = 1 << 20;
  const DWORD len = static_cast<DWORD>(std::min<std::uint64_t>(req.size, transmit_step));
  started();
  const BOOL ok = ::TransmitFile(win::to_socket(op.sock->handle), handle_of(req), len, 0,
                                 overlapped_of(op), nullptr, 0);
  return after_start(op, ok != FALSE, *skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

// ---- The blocking pool: open and sync ------------------------------------

bool iocp_backend::start_on_pool(operation& op) noexcept {
  file_request& req = *op.args.file;
  req.job.pool = current_blocking_pool();
  if (!req.job.pool) return fail_now(op, win::res_from_errc(std::errc::operation_not_supported));
  req.job.request = &req;
  req.job.run = &run_on_pool;
  req.job.finish = &finish_on_pool;
  req.job.st = blocking_job::state::idle;
  req.job.stopped = false;
  req.op = &op;
  req.owner = this;
  // What a job the pool cancels at shutdown (run() never called) reports.
  req.res = win::res_from_win32(ERROR_OPERATION_ABORTED);
  started();
  if (auto ec = submit_blocking(req.job)) {
    // Lesson 2: refused; finished now, nothing waits for the pool.
    finished();
    return fail_now(op, -static_cast<std::int64_t>(ec.value()));
  }
  return true;
}

void iocp_backend::run_on_pool(blocking_job& job) noexcept {
  file_request& req = *static_cast<file_request::pool_job&>(job).request;
  auto* self = static_cast<iocp_backend*>(req.owner);
  if (req.op->code == op_code::file_sync) {
    req.res = ::FlushFileBuffers(handle_of(req)) ? 0 : win::res_from_win32(::GetLastError());
    return;
  }
  std::int64_t r = open_file_blocking(req.path, req.flags);
  if (r >= 0) {
    auto h = reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(r));
    // On the port, skipping it when a read or write completes at once (a
    // file handle is no layered socket: its synchronous successes never
    // queue a packet anyway, and start_file relies on that).
    if (!::CreateIoCompletionPort(h, self->port_->handle(), key_io, 0) ||
        !::SetFileCompletionNotificationModes(
            h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE)) {
      r = win::res_from_win32(::GetLastError());
      ::CloseHandle(h);
    }
  }
  req.res = r;
}

void iocp_backend::finish_on_pool(blocking_job& job) noexcept {
  file_request& req = *static_cast<file_request::pool_job&>(job).request;
  auto* self = static_cast<iocp_backend*>(req.owner);
  operation& op = *req.op;
  op.res = req.res;
  // TRICKY: once posted, any worker may complete the operation and free
  // the request: nothing of it is touched after this line. The port
  // outlives the pool (the runtime shuts the pool down first).
  self->deliver(op);
}

void iocp_backend::deliver(operation& op) noexcept {
  if (port_->post_packet(key_ready, overlapped_of(op))) return;
  port_->keep(&op);
  wake();
}

bool iocp_backend::cancel_file(operation& op) noexcept {
  file_request& req = *op.args.file;
  switch (op.code) {
    case op_code::file_open:
    case op_code::file_sync:
      // Only a call still queued can be taken back; a running one ends
      // with its own result.
      if (stop_blocking(req.job) == blocking_job::state::queued) {
        op.res = win::res_from_win32(ERROR_OPERATION_ABORTED);
        deliver(op);
      }
      return true;
    case op_code::file_read:
    case op_code::file_write:
      cancel_io(op, handle_of(req));
      return true;
    default:
      return false;  // send_file: I/O on the socket, cancelled like the others
  }
}

}  // namespace corio::detail
