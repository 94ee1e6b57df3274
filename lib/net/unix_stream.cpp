// lib/net/unix_stream.cpp: Unix-domain listeners and connects. Reads,
// writes and shutdown are basic_stream's, accepts tcp_listener's awaiter:
// the backends see a socket and an address, whatever its family.
#include "corio/net/unix_stream.hpp"

#include "sys/socket.hpp"

namespace corio::net {

unix_connect_awaiter::unix_connect_awaiter(std::string_view name) noexcept {
  op_.code = detail::op_code::connect;
  if (auto ok = detail::sys::unix_address(name, addr_); !ok) {
    open_error_ = ok.error();
    return;
  }
  auto h = detail::sys::open_unix();
  if (!h) {
    open_error_ = h.error();
    return;
  }
  sock_ = detail::sys::adopt(*h);
}

bool unix_connect_awaiter::start() noexcept {
  if (!sock_) return false;  // the name was bad or the socket could not be opened
  // Here, not at construction: the awaiter may have moved since.
  op_.sock = sock_.get();
  op_.args.connect_to = &addr_;
  return detail::start(op_);
}

result<unix_stream> unix_connect_awaiter::await_resume() noexcept {
  if (open_error_) return fail(open_error_);
  if (op_.res < 0) return fail(detail::error_from_result(op_.res));
  return unix_stream(std::move(sock_));
}

result<unix_listener> unix_listener::bind(std::string_view name, int backlog) noexcept {
  detail::address_storage addr;
  if (auto ok = detail::sys::unix_address(name, addr); !ok) return fail(ok.error());
  auto h = detail::sys::open_unix();
  if (!h) return fail(h.error());
  auto sock = detail::sys::adopt(*h);
  if (auto ok = detail::sys::bind_listen_at(sock->handle, addr, backlog); !ok)
    return fail(ok.error());
  return unix_listener(std::move(sock));
}

}  // namespace corio::net
