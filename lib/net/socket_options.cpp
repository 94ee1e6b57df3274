// lib/net/socket_options.cpp: tcp_stream's and tcp_listener's socket
// options, and sockets that enter or leave corio without being opened or
// closed by it. The OS calls are in sys/{posix,win}/socket.cpp.
#include <algorithm>
#include <cstdint>

#include "backend/backend.hpp"
#include "corio/net/tcp_listener.hpp"
#include "corio/net/tcp_stream.hpp"
#include "sys/socket.hpp"

namespace corio::net {

namespace {

// The handle of a socket that leaves corio open: the backend forgets it
// first, as it does before a close.
detail::native_socket release_core(detail::socket_ptr& sock) noexcept {
  if (!sock) return detail::invalid_socket;
  // Refused while the socket is in use (an operation, or on io_uring the
  // receive that read_pooled keeps armed between reads, would go on with
  // it) or holds bytes received ahead of a read (they would be lost).
  const detail::multishot_recv* kept = detail::kept_receive(*sock);
  if ((sock->uses.load(std::memory_order_acquire) & detail::socket_use::in_flight) != 0 ||
      (kept && kept->head))
    return detail::invalid_socket;
  detail::socket_core* s = sock.release();
  detail::forget_socket(*s);
  const detail::native_socket h = s->handle;
  detail::sys::disown_handle(h);
  detail::sys::free_core(s);
  return h;
}

}  // namespace

result<void> tcp_stream::set_keepalive(const keepalive_options& options) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::set_keepalive(sock_->handle, options);
}

result<void> tcp_stream::set_linger(std::optional<std::chrono::seconds> timeout) noexcept {
  if (!sock_) return fail(errc::not_open);
  const auto secs = timeout ? std::clamp<std::int64_t>(timeout->count(), 0, 0xffff) : 0;
  return detail::sys::set_linger(sock_->handle, timeout.has_value(), static_cast<int>(secs));
}

result<void> tcp_stream::close_with_reset() noexcept {
  if (!sock_) return fail(errc::not_open);
  auto lingered = detail::sys::set_linger(sock_->handle, true, 0);
  close();
  return lingered;
}

result<void> tcp_stream::set_send_buffer_size(std::size_t bytes) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::set_buffer_size(sock_->handle, true, bytes);
}

result<void> tcp_stream::set_receive_buffer_size(std::size_t bytes) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::set_buffer_size(sock_->handle, false, bytes);
}

result<std::size_t> tcp_stream::send_buffer_size() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::buffer_size(sock_->handle, true);
}

result<std::size_t> tcp_stream::receive_buffer_size() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::buffer_size(sock_->handle, false);
}

result<tcp_stream> tcp_stream::adopt(detail::native_socket h) noexcept {
  if (auto ok = detail::sys::take_foreign(h, false); !ok) return fail(ok.error());
  return tcp_stream(detail::sys::adopt(h));
}

detail::native_socket tcp_stream::release() noexcept {
  return release_core(sock_);
}

result<tcp_listener> tcp_listener::adopt(detail::native_socket h) noexcept {
  if (auto ok = detail::sys::take_foreign(h, true); !ok) return fail(ok.error());
  return tcp_listener(detail::sys::adopt(h));
}

detail::native_socket tcp_listener::release() noexcept {
  return release_core(sock_);
}

}  // namespace corio::net
