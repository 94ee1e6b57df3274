// demos/http_server/blocking_file.hpp: files for the server through the
// blocking pool (open + fstat, pread), with the shape of corio::fs::file, for
// as long as corio::fs is not in the tree. Each call is one spawn_blocking
// job; the body goes out through a 64 KiB buffer (no zero-copy).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "corio/blocking.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace http_server::blocking_fs {

/// What info() reports, as corio::fs::file_info does.
struct file_info {
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point modified;
  bool regular = false;
  bool directory = false;
};

/// An open file (read-only). Move-only; the destructor closes it.
class file {
 public:
  file() noexcept = default;
  file(file&& o) noexcept : fd_(std::exchange(o.fd_, -1)), info_(o.info_) {}
  file& operator=(file&& o) noexcept;
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file();

  /// Opens `path` for reading on the blocking pool: the file, or
  /// std::errc::no_such_file_or_directory, permission_denied,
  /// is_a_directory (directories are refused, as corio::fs does), ...
  static corio::task<corio::result<file>> open(std::string_view path);
  /// Reads up to buf.size() bytes at `offset` on the blocking pool; 0 at
  /// the end of the file.
  corio::task<corio::result<std::size_t>> read_at(std::uint64_t offset, std::span<std::byte> buf);
  /// Size, modification time and kind, from when it was opened.
  corio::result<file_info> info() const noexcept { return info_; }
  bool is_open() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
  file_info info_;
};

/// Sends `count` bytes of `f` from `offset` to `s` through a 64 KiB buffer
/// (allocated per call); resumes with the count sent (fewer when the file
/// ended first).
template <class Stream>
corio::task<corio::result<std::uint64_t>> send_file(Stream& s, file& f, std::uint64_t offset,
                                                    std::uint64_t count) {
  auto buf = std::make_unique_for_overwrite<std::byte[]>(64 * 1024);
  std::uint64_t sent = 0;
  while (sent < count) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(count - sent, 64 * 1024));
    auto n = co_await f.read_at(offset + sent, std::span(buf.get(), want));
    if (!n) co_return corio::fail(n.error());
    if (*n == 0) break;
    if (auto w = co_await s.write_all(std::span<const std::byte>(buf.get(), *n)); !w)
      co_return corio::fail(w.error());
    sent += *n;
  }
  co_return sent;
}

}  // namespace http_server::blocking_fs
