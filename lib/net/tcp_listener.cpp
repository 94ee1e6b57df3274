// lib/net/tcp_listener.cpp: binding, and turning an accept's result into a
// stream.
#include "corio/net/tcp_listener.hpp"

#include "sys/socket.hpp"

namespace corio::net {

result<tcp_listener> tcp_listener::bind(const endpoint& at, listen_options options) noexcept {
  auto handle = detail::sys::open_tcp(at.af());
  if (!handle) return fail(handle.error());
  auto sock = detail::sys::adopt(*handle);
  if (auto ok = detail::sys::bind_listen(sock->handle, at, options); !ok) return fail(ok.error());
  return tcp_listener(std::move(sock));
}

result<endpoint> tcp_listener::local_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::local_endpoint(sock_->handle);
}

result<detail::socket_ptr> detail_accept::finish(const detail::operation& op,
                                                 detail::accept_state& st,
                                                 std::error_code refused) noexcept {
  if (refused) {
    // The listener was closed while this accept was in flight: a connection
    // accepted anyway in the race is closed, not leaked.
    if (op.res >= 0 && refused == std::errc::operation_canceled) {
      const detail::native_socket h = st.accepted != detail::invalid_socket
                                          ? st.accepted
                                          : static_cast<detail::native_socket>(op.res);
      detail::sys::close_handle(h);
    }
    return fail(refused);
  }
  if (op.res < 0) return fail(detail::error_from_result(op.res));
  // Backends that create the socket up front (IOCP) leave it in st.accepted;
  // the others return the new descriptor as the result.
  detail::native_socket h = st.accepted != detail::invalid_socket
                                ? st.accepted
                                : static_cast<detail::native_socket>(op.res);
  return detail::sys::adopt(h);
}

}  // namespace corio::net
