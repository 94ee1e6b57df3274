// corio/net/tcp_listener.hpp: a listening TCP socket.
#pragma once

#include "corio/detail/socket.hpp"
#include "corio/net/endpoint.hpp"
#include "corio/net/tcp_stream.hpp"
#include "corio/result.hpp"

namespace corio::net {

struct listen_options {
  /// The kernel's queue of connections not yet accepted.
  int backlog = 1024;
  /// SO_REUSEADDR (always on POSIX: restart without TIME_WAIT trouble).
  bool reuse_address = true;
  /// SO_REUSEPORT: several listeners (processes) share one port and the
  /// kernel spreads new connections over them. Linux only: bind fails with
  /// std::errc::not_supported on Windows.
  bool reuse_port = false;
};

namespace detail_accept {
/// A finished accept's socket, or the error (`refused`: what the
/// listener's claim said); closes a connection accepted in a race with the
/// listener's close. Shared by every kind of listener.
result<detail::socket_ptr> finish(const detail::operation& op, detail::accept_state& st,
                                  std::error_code refused) noexcept;
}  // namespace detail_accept

/// An accept's awaiter (tcp_listener::accept, unix_listener::accept): an
/// operation awaiter, so with_timeout and with_stop bound and cancel an
/// accept like any other operation. `Stream` is the kind of stream it
/// gives, made from the accepted socket.
template <class Stream>
class [[nodiscard("an accept does nothing until it is co_awaited")]] basic_accept_awaiter
    : public detail::op_awaiter_base<basic_accept_awaiter<Stream>> {
 public:
  explicit basic_accept_awaiter(detail::socket_core* s) noexcept {
    op_.code = detail::op_code::accept;
    op_.sock = s;
  }
  detail::operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!claim_.take(op_.sock)) return false;
    op_.args.accept = &st_;  // here, not at construction: the awaiter may have moved since
    return detail::start(op_);
  }
  /// The accepted stream, or the error.
  result<Stream> await_resume() noexcept {
    auto s = detail_accept::finish(op_, st_, claim_.finish(op_.sock));
    if (!s) return fail(s.error());
    return Stream(std::move(*s));
  }

 private:
  detail::operation op_;
  detail::socket_claim<detail::socket_use::other> claim_;
  detail::accept_state st_;
};

/// tcp_listener::accept's awaiter.
using accept_awaiter = basic_accept_awaiter<tcp_stream>;

/// A socket bound to a local endpoint, accepting connections.
class tcp_listener {
 public:
  tcp_listener() noexcept = default;

  /// Binds and listens. Port 0 picks a free port (see local_endpoint).
  /// Fails with std::errc::address_in_use when the port is taken.
  static result<tcp_listener> bind(const endpoint& at, listen_options options = {}) noexcept;

  /// Accepts one connection. Resumes on a worker with the new stream, or an
  /// error (EMFILE when out of descriptors: the listener stays usable).
  accept_awaiter accept() noexcept {
    return accept_awaiter(sock_.get());
  }

  result<endpoint> local_endpoint() const noexcept;

  /// Takes ownership of a socket made elsewhere that is already listening
  /// (a systemd or inetd socket, a parent process's). On POSIX it is made
  /// non-blocking. Fails, leaving `h` open and the caller's, with
  /// std::errc::not_a_socket, or std::errc::invalid_argument for a socket
  /// that is not a listening stream socket.
  static result<tcp_listener> adopt(detail::native_socket h) noexcept;
  /// Gives up the socket without closing it (see tcp_stream::release).
  detail::native_socket release() noexcept;

  void close() noexcept { sock_.reset(); }
  bool is_open() const noexcept { return sock_ != nullptr; }
  detail::native_socket native_handle() const noexcept {
    return sock_ ? sock_->handle : detail::invalid_socket;
  }

 private:
  explicit tcp_listener(detail::socket_ptr s) noexcept : sock_(std::move(s)) {}
  detail::socket_ptr sock_;
};

}  // namespace corio::net
