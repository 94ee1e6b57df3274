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
  /// SO_REUSEPORT: several listeners (processes) share one port. Linux only.
  bool reuse_port = false;
};

/// tcp_listener::accept's awaiter: an operation awaiter, so with_timeout and
/// with_stop bound and cancel an accept like any other operation.
class [[nodiscard("an accept does nothing until it is co_awaited")]] accept_awaiter
    : public detail::op_awaiter_base<accept_awaiter> {
 public:
  explicit accept_awaiter(detail::socket_core* s) noexcept {
    op_.code = detail::op_code::accept;
    op_.sock = s;
  }
  detail::operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!op_.sock) {
      not_open_ = true;
      return false;
    }
    op_.args.accept = &st_;  // here, not at construction: the awaiter may have moved since
    return detail::start(op_);
  }
  /// The accepted stream, or the error.
  result<tcp_stream> await_resume() noexcept;

 private:
  detail::operation op_;
  detail::accept_state st_;
  bool not_open_ = false;
};

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
