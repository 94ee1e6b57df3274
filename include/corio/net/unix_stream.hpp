// corio/net/unix_stream.hpp: Unix-domain stream sockets (AF_UNIX,
// SOCK_STREAM): a listener on a path, and streams with basic_stream's reads,
// writes, split and shutdown, as tcp_stream has them.
//
// A name is a filesystem path ("/run/app.sock"), or on Linux an abstract
// name, which lives outside the file system and goes when its last socket
// closes: written with a leading '@' ("@app") or a leading '\0'. A path
// longer than the system's sockaddr_un holds (107 bytes on Linux) fails
// with std::errc::filename_too_long; an empty name, or a path with a NUL
// in it, with std::errc::invalid_argument. On Windows AF_UNIX exists from
// Windows 10 1803 (paths only, no abstract names); where the system lacks
// it, every call fails with std::errc::not_supported (docs/backends.md).
#pragma once

#include <string>
#include <string_view>

#include "corio/detail/socket.hpp"
#include "corio/net/basic_stream.hpp"
#include "corio/net/tcp_listener.hpp"
#include "corio/net/tcp_stream.hpp"
#include "corio/result.hpp"

namespace corio::net {

class unix_stream;

/// unix_stream::connect's awaiter, like tcp_stream's: with_timeout and
/// with_stop bound and cancel it.
class [[nodiscard("a connect does nothing until it is co_awaited")]] unix_connect_awaiter
    : public detail::op_awaiter_base<unix_connect_awaiter> {
 public:
  /// Opens the socket now; a bad name or a failed open is kept and becomes
  /// the result, without suspending.
  explicit unix_connect_awaiter(std::string_view name) noexcept;
  unix_connect_awaiter(unix_connect_awaiter&&) noexcept = default;
  detail::operation& op() noexcept { return op_; }
  bool start() noexcept;
  /// The connected stream, or the error (std::errc::connection_refused
  /// when nothing listens there, no_such_file_or_directory for a missing
  /// path).
  result<unix_stream> await_resume() noexcept;

 private:
  detail::operation op_;
  detail::socket_ptr sock_;
  detail::address_storage addr_;
  std::error_code open_error_;
};

/// A connected Unix-domain stream socket: basic_stream's reading and
/// writing API, as tcp_stream has it (reads and writes one at a time per
/// direction, split() for full duplex, shutdown for a half close), over a
/// local socket. Move-only; closing it cancels what is in flight, as for
/// tcp_stream.
class unix_stream : public basic_stream {
 public:
  unix_stream() noexcept = default;
  explicit unix_stream(detail::socket_ptr s) noexcept : basic_stream(std::move(s)) {}

  /// Connects to the listener named `name` (a path, or "@name" / "\0name"
  /// for an abstract one). Resumes on a worker with the stream or the error.
  static unix_connect_awaiter connect(std::string_view name) noexcept {
    return unix_connect_awaiter(name);
  }
};

/// A Unix-domain socket listening on a name. Closing it does not remove a
/// filesystem path: the file stays until someone unlinks it (and binding
/// the same path again fails with std::errc::address_in_use until then).
class unix_listener {
 public:
  unix_listener() noexcept = default;

  /// Binds to `name` (see unix_stream::connect) and listens.
  static result<unix_listener> bind(std::string_view name, int backlog = 1024) noexcept;

  /// Accepts one connection. Resumes on a worker with the new stream.
  basic_accept_awaiter<unix_stream> accept() noexcept {
    return basic_accept_awaiter<unix_stream>(sock_.get());
  }

  void close() noexcept { sock_.reset(); }
  bool is_open() const noexcept { return sock_ != nullptr; }
  detail::native_socket native_handle() const noexcept {
    return sock_ ? sock_->handle : detail::invalid_socket;
  }

 private:
  explicit unix_listener(detail::socket_ptr s) noexcept : sock_(std::move(s)) {}
  detail::socket_ptr sock_;
};

}  // namespace corio::net
