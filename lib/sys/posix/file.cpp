// lib/sys/posix/file.cpp: the synchronous file calls of fs::file on Linux
// (close, fstat), and open's flags as open(2) takes them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "corio/fs/file.hpp"
#include "sys/file.hpp"

namespace corio {

namespace detail {

int posix_open_flags(std::uint32_t flags) noexcept {
  int f = O_CLOEXEC;
  const bool rd = flags & file_flag::read, wr = flags & file_flag::write;
  f |= rd && wr ? O_RDWR : wr ? O_WRONLY : O_RDONLY;
  if (flags & file_flag::create) f |= O_CREAT;
  if (flags & file_flag::truncate) f |= O_TRUNC;
  if (flags & file_flag::exclusive) f |= O_EXCL;
  if (flags & file_flag::append) f |= O_APPEND;
  return f;
}

std::int64_t close_file(native_file h) noexcept {
  // Linux releases the descriptor even when close reports an error (EINTR
  // included), so it is never retried.
  if (::close(static_cast<int>(h)) != 0) return -errno;
  return 0;
}

namespace {

// What fstat said, as fs::file_info.
fs::file_info info_of(const struct stat& st) noexcept {
  fs::file_info out;
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.modified = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  out.regular = S_ISREG(st.st_mode);
  out.directory = S_ISDIR(st.st_mode);
  return out;
}

}  // namespace

std::int64_t check_opened_file(native_file h, fs::file_info& at_open) noexcept {
  struct stat st {};
  if (::fstat(static_cast<int>(h), &st) != 0) {
    const int e = errno;
    ::close(static_cast<int>(h));
    return -e;
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(static_cast<int>(h));
    return -EISDIR;
  }
  at_open = info_of(st);
  return 0;
}

}  // namespace detail

namespace fs {

result<file_info> file::info() const noexcept {
  if (!is_open()) return fail(errc::not_open);
  struct stat st {};
  if (::fstat(static_cast<int>(handle_), &st) != 0) return fail(std::error_code(errno, std::generic_category()));
  return corio::detail::info_of(st);
}

}  // namespace fs

}  // namespace corio
