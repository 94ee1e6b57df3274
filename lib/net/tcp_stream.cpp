// lib/net/tcp_stream.cpp: connecting, and the composed reads and writes.
#include "corio/net/tcp_stream.hpp"

#include "sys/socket.hpp"

namespace corio::net {

detail_connect::connect_awaiter::connect_awaiter(const endpoint& to) noexcept {
  detail::sys::to_sockaddr(to, addr_);
  if (auto h = detail::sys::open_tcp(to.af())) {
    sock_ = detail::sys::adopt(*h);
  } else {
    open_error_ = h.error();
  }
}

bool detail_connect::connect_awaiter::start() noexcept {
  if (!sock_) return false;  // the socket could not be opened: nothing to wait for
  return detail::start_connect(op_, *sock_, addr_);
}

result<tcp_stream> detail_connect::connect_awaiter::await_resume() noexcept {
  if (open_error_) return fail(open_error_);
  if (op_.res < 0) return fail(detail::error_from_result(op_.res));
  return tcp_stream(std::move(sock_));
}

result<void> tcp_stream::shutdown(shutdown_how how) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::shutdown(sock_->handle, how);
}

result<void> tcp_stream::set_nodelay(bool on) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::set_nodelay(sock_->handle, on);
}

result<endpoint> tcp_stream::local_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::local_endpoint(sock_->handle);
}

result<endpoint> tcp_stream::peer_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::peer_endpoint(sock_->handle);
}

}  // namespace corio::net
