// corio/detail/file_io.hpp: what a file operation carries besides the
// operation itself, and the awaiters of fs::file (corio/fs/file.hpp).
//
// Files are not sockets: a file operation has no socket_core (op.sock stays
// null) and no read/write claim. Its arguments do not fit the operation's
// 16-byte union, so the union holds a pointer to a file_request that lives
// next to the operation in the awaiter (so in the awaiting frame, like the
// operation: nothing is allocated per operation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "corio/blocking.hpp"
#include "corio/detail/io.hpp"
#include "corio/result.hpp"

namespace corio::detail {

/// A file handle: an fd on Linux, a HANDLE on Windows (INVALID_HANDLE_VALUE
/// is -1 once converted).
using native_file = std::intptr_t;
inline constexpr native_file invalid_file = -1;

/// fs::open_flags as the backends see them (the same bits).
namespace file_flag {
inline constexpr std::uint32_t read = 1;
inline constexpr std::uint32_t write = 2;
inline constexpr std::uint32_t create = 4;
inline constexpr std::uint32_t truncate = 8;
inline constexpr std::uint32_t exclusive = 16;
inline constexpr std::uint32_t append = 32;
}  // namespace file_flag

/// The arguments of a file_* or send_file operation (op.args.file points
/// here), and the room a backend needs to run the call on the blocking pool.
struct file_request {
  // The file (file_open: none; its result is the new handle).
  native_file handle = invalid_file;
  // Where in the file (read, write, send_file).
  std::uint64_t offset = 0;
  // The buffer (read, write); send_file: only size, the bytes still to send.
  void* data = nullptr;
  std::uint64_t size = 0;
  // file_open: a NUL-terminated UTF-8 path, file_flag bits and the POSIX mode.
  const char* path = nullptr;
  std::uint32_t flags = 0;
  std::uint32_t mode = 0;

  // ---- Backends that run the call on the blocking pool (epoll: every file
  // call; IOCP: open and sync). The pool's job, the operation it finishes,
  // the backend that started it, and the link of that backend's list of
  // finished pool calls.
  struct pool_job : blocking_job {
    file_request* request = nullptr;
  } job;
  operation* op = nullptr;
  void* owner = nullptr;
  file_request* next_done = nullptr;
  // The call's result, written by the pool thread (op.res once delivered).
  std::int64_t res = 0;
};

/// The most bytes one read, write or send_file step moves (Linux returns
/// at most 0x7ffff000 per call; an io_uring result is 32 bits).
inline constexpr std::uint64_t max_file_step = 0x7ffff000;

/// Closes `h` (close / CloseHandle); 0 or a negated error as error_from_result takes.
std::int64_t close_file(native_file h) noexcept;

/// file_read / file_write / file_sync on an open file. read/write resume
/// with the count moved (0 on a read: the end of the file); a transfer of 0
/// bytes completes at once with 0 and reaches no kernel.
template <bool Bytes>
class [[nodiscard("a file operation does nothing until it is co_awaited")]] file_awaiter
    : public op_awaiter_base<file_awaiter<Bytes>> {
 public:
  file_awaiter(op_code code, native_file h, std::uint64_t offset, void* data,
               std::uint64_t size) noexcept {
    op_.code = code;
    req_.handle = h;
    req_.offset = offset;
    req_.data = data;
    req_.size = size < max_file_step ? size : max_file_step;
  }

  operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (req_.handle == invalid_file) {
      not_open_ = true;
      return false;
    }
    if (Bytes && req_.size == 0) {
      op_.res = 0;
      return false;
    }
    // Set here, not in the constructor: the awaiter may have moved since
    // (with_stop and with_timeout take it by value).
    op_.args.file = &req_;
    return detail::start(op_);
  }
  auto await_resume() noexcept {
    if constexpr (Bytes) {
      if (not_open_) return result<std::size_t>(fail(errc::not_open));
      if (op_.res < 0) return result<std::size_t>(fail(error_from_result(op_.res)));
      return result<std::size_t>(static_cast<std::size_t>(op_.res));
    } else {
      if (not_open_) return result<void>(fail(errc::not_open));
      if (op_.res < 0) return result<void>(fail(error_from_result(op_.res)));
      return result<void>();
    }
  }

 private:
  operation op_;
  file_request req_;
  bool not_open_ = false;
};

}  // namespace corio::detail
