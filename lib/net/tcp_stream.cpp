// lib/net/tcp_stream.cpp: connecting, Nagle and endpoints.
#include "corio/net/tcp_stream.hpp"

#include "sys/socket.hpp"

namespace corio::net {

connect_awaiter::connect_awaiter(const endpoint& to, const endpoint* from) noexcept {
  op_.code = detail::op_code::connect;
  detail::sys::to_sockaddr(to, addr_);
  if (from && from->af() != to.af()) {
    // Checked here so every OS gives the same error (Linux would say EINVAL
    // or EAFNOSUPPORT depending on the pair).
    open_error_ = std::make_error_code(std::errc::address_family_not_supported);
    return;
  }
  auto h = detail::sys::open_tcp(to.af());
  if (!h) {
    open_error_ = h.error();
    return;
  }
  sock_ = detail::sys::adopt(*h);
  if (from) {
    if (auto bound = detail::sys::bind_source(sock_->handle, *from); !bound) {
      open_error_ = bound.error();
      sock_.reset();  // closes it: nothing was sent
    }
  }
}

bool connect_awaiter::start() noexcept {
  if (!sock_) return false;  // the socket could not be opened: nothing to wait for
  // Here, not at construction: the awaiter may have moved since.
  op_.sock = sock_.get();
  op_.args.connect_to = &addr_;
  return detail::start(op_);
}

result<tcp_stream> connect_awaiter::await_resume() noexcept {
  if (open_error_) return fail(open_error_);
  if (op_.res < 0) return fail(detail::error_from_result(op_.res));
  return tcp_stream(std::move(sock_));
}

result<void> tcp_stream::set_nodelay(bool on) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::set_nodelay(sock_->handle, on);
}

result<void> tcp_stream::set_cork(bool on) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::set_cork(sock_->handle, on);
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
