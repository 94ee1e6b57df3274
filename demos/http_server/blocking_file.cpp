// demos/http_server/blocking_file.cpp
#include "http_server/blocking_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <system_error>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace http_server::blocking_fs {

namespace {

std::error_code last_error() noexcept { return {errno, std::generic_category()}; }

void close_fd(int fd) noexcept {
#if defined(_WIN32)
  ::_close(fd);
#else
  ::close(fd);
#endif
}

}  // namespace

file& file::operator=(file&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close_fd(fd_);
    fd_ = std::exchange(o.fd_, -1);
    info_ = o.info_;
  }
  return *this;
}

file::~file() {
  if (fd_ >= 0) close_fd(fd_);
}

corio::task<corio::result<file>> file::open(std::string_view path) {
  std::string name(path);  // NUL-terminated, for the job
  co_return co_await corio::spawn_blocking([&name]() -> corio::result<file> {
    if (name.find('\0') != std::string::npos) return corio::fail(std::errc::invalid_argument);
#if defined(_WIN32)
    // _open refuses a directory with EACCES: ask first, to say what it is.
    struct _stat64 st {};
    if (::_stat64(name.c_str(), &st) != 0) return corio::fail(last_error());
    if ((st.st_mode & _S_IFMT) == _S_IFDIR) return corio::fail(std::errc::is_a_directory);
    const int fd = ::_open(name.c_str(), _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    if (fd < 0) return corio::fail(last_error());
    const bool regular = (st.st_mode & _S_IFMT) == _S_IFREG;
#else
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return corio::fail(last_error());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const auto e = last_error();
      ::close(fd);
      return corio::fail(e);
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return corio::fail(std::errc::is_a_directory);
    }
    const bool regular = S_ISREG(st.st_mode);
#endif
    file f;
    f.fd_ = fd;
    f.info_.size = static_cast<std::uint64_t>(st.st_size);
    f.info_.modified = std::chrono::system_clock::from_time_t(st.st_mtime);
    f.info_.regular = regular;
    return f;
  });
}

corio::task<corio::result<std::size_t>> file::read_at(std::uint64_t offset,
                                                      std::span<std::byte> buf) {
  const int fd = fd_;
  co_return co_await corio::spawn_blocking([fd, offset, buf]() -> corio::result<std::size_t> {
#if defined(_WIN32)
    // One reader per file at a time (the server's), so seek + read is safe.
    if (::_lseeki64(fd, static_cast<__int64>(offset), SEEK_SET) < 0) return corio::fail(last_error());
    const int n = ::_read(fd, buf.data(), static_cast<unsigned>(std::min<std::size_t>(buf.size(), 1u << 30)));
#else
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
#endif
    if (n < 0) return corio::fail(last_error());
    return static_cast<std::size_t>(n);
  });
}

}  // namespace http_server::blocking_fs
