// corio/fs/file.hpp: asynchronous file I/O at explicit offsets.
//
// io_uring: every call is an io_uring operation (OPENAT, READ, WRITE,
// FSYNC). epoll: every call runs on the runtime's blocking pool, so a slow
// disk never stalls a worker. IOCP: reads and writes are overlapped I/O on
// the completion port; open and sync run on the blocking pool. See
// docs/files.md for what is truly asynchronous where.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "corio/detail/file_io.hpp"
#include "corio/result.hpp"

namespace corio::fs {

/// How file::open opens a file. Combine with `|`. At least one of `read`
/// and `write` must be given; `truncate` needs `write`; `exclusive` needs
/// `create` (the open then fails with std::errc::file_exists if the file is
/// there). With `append` every write goes to the end of the file, whatever
/// offset write_at is given.
enum class open_flags : unsigned {
  read = detail::file_flag::read,
  write = detail::file_flag::write,
  create = detail::file_flag::create,
  truncate = detail::file_flag::truncate,
  exclusive = detail::file_flag::exclusive,
  append = detail::file_flag::append,
};
constexpr open_flags operator|(open_flags a, open_flags b) noexcept {
  return static_cast<open_flags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr open_flags operator&(open_flags a, open_flags b) noexcept {
  return static_cast<open_flags>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
/// True when `f` has any of the bits of `bit`.
constexpr bool has(open_flags f, open_flags bit) noexcept {
  return (static_cast<unsigned>(f) & static_cast<unsigned>(bit)) != 0;
}

/// What file::info() and file::info_at_open() report.
struct file_info {
  /// Size in bytes.
  std::uint64_t size = 0;
  /// Last modification time.
  std::chrono::system_clock::time_point modified{};
  /// A regular file (not a device, pipe or directory).
  bool regular = false;
  /// A directory (file::open refuses directories, so false for an open file).
  bool directory = false;
};

class file;

namespace detail {
/// file::open's awaiter: an operation awaiter (with_stop and with_timeout
/// take it). Keeps a NUL-terminated copy of the path until the open is done.
class [[nodiscard("an open does nothing until it is co_awaited")]] open_awaiter
    : public corio::detail::op_awaiter_base<open_awaiter> {
 public:
  open_awaiter(std::string_view path, open_flags flags, unsigned mode);
  open_awaiter(open_awaiter&&) = default;
  corio::detail::operation& op() noexcept { return op_; }
  bool start() noexcept;
  result<file> await_resume() noexcept;

 private:
  corio::detail::operation op_;
  corio::detail::file_request req_;
  std::string path_;
  std::error_code refused_;  // bad flags or a path with a NUL: never started
};
}  // namespace detail

/// An open file. Move-only; the destructor closes it. Reads and writes name
/// their offset (there is no file position), so several may be in flight
/// at once on one file, from one or several coroutines. Each resumes on a
/// runtime worker (on io_uring and epoll, the one that started it; on IOCP,
/// any). A file must stay open while an operation on it is in flight (close
/// it after awaiting them, as one keeps a buffer alive).
class file {
 public:
  /// A file that is not open (is_open() is false; operations fail with errc::not_open).
  file() noexcept = default;
  file(file&& o) noexcept : handle_(o.handle_), at_open_(o.at_open_) {
    o.handle_ = corio::detail::invalid_file;
  }
  file& operator=(file&& o) noexcept {
    if (this != &o) {
      (void)close();
      handle_ = o.handle_;
      at_open_ = o.at_open_;
      o.handle_ = corio::detail::invalid_file;
    }
    return *this;
  }
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() { (void)close(); }

  /// Opens `path` (UTF-8). `co_await fs::file::open(...)` resumes with the
  /// file, or the error: std::errc::no_such_file_or_directory,
  /// std::errc::permission_denied, std::errc::is_a_directory (directories
  /// are refused), std::errc::file_exists (exclusive), std::errc::invalid_argument
  /// (flags without read or write, truncate without write, exclusive without
  /// create, a path with a NUL byte). `mode` is the POSIX permission of a
  /// file it creates (ignored on Windows). Only on a runtime worker.
  static detail::open_awaiter open(std::string_view path, open_flags flags, unsigned mode = 0644) {
    return detail::open_awaiter(path, flags, mode);
  }

  /// Reads up to buf.size() bytes at `offset`. Resumes with the count read:
  /// fewer than asked near the end of the file, 0 at or past the end (or
  /// for an empty buffer). At most 0x7ffff000 bytes per call. Allocates nothing.
  auto read_at(std::uint64_t offset, std::span<std::byte> buf) noexcept {
    return corio::detail::file_awaiter<true>(corio::detail::op_code::file_read, handle_, offset,
                                             buf.data(), buf.size());
  }
  /// Writes up to buf.size() bytes at `offset` (a regular file takes all of
  /// them unless the disk is full); writing past the end extends the file
  /// (the gap reads as zeros). Resumes with the count written. Allocates nothing.
  auto write_at(std::uint64_t offset, std::span<const std::byte> buf) noexcept {
    return corio::detail::file_awaiter<true>(corio::detail::op_code::file_write, handle_, offset,
                                             const_cast<std::byte*>(buf.data()), buf.size());
  }
  /// Flushes the file's data and metadata to the device (fsync /
  /// FlushFileBuffers). Resumes once the device has them.
  auto sync() noexcept {
    return corio::detail::file_awaiter<false>(corio::detail::op_code::file_sync, handle_, 0,
                                              nullptr, 0);
  }

  /// Size, modification time and kind, now (fstat / GetFileInformationByHandle),
  /// on the calling thread.
  result<file_info> info() const noexcept;
  /// Size, modification time and kind as open found them, with no system
  /// call: open asks anyway, to refuse directories. Not updated by writes
  /// (info() says what is there now); zeros for a file() never opened. A
  /// server that opens a file to send it needs nothing else.
  const file_info& info_at_open() const noexcept { return at_open_; }
  /// Closes the file now, on the calling thread; errc::not_open if it was not open.
  result<void> close() noexcept;
  bool is_open() const noexcept { return handle_ != corio::detail::invalid_file; }

  /// The OS handle (fd / HANDLE), for calls corio does not wrap.
  corio::detail::native_file native_handle() const noexcept { return handle_; }

 private:
  friend class detail::open_awaiter;
  file(corio::detail::native_file h, const file_info& at_open) noexcept
      : handle_(h), at_open_(at_open) {}
  corio::detail::native_file handle_ = corio::detail::invalid_file;
  file_info at_open_;
};

}  // namespace corio::fs
