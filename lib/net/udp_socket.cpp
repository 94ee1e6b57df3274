// lib/net/udp_socket.cpp: opening a UDP socket, its options, and turning a
// finished datagram operation into a result.
#include "corio/net/udp_socket.hpp"

#include "sys/socket.hpp"

namespace corio::net {

namespace detail_udp {

namespace {
// The error of a failed datagram operation. Windows says WSAECONNRESET (or
// ERROR_PORT_UNREACHABLE through the port) where Linux says ECONNREFUSED:
// a connected peer's ICMP "port unreachable". UDP has no connection to
// reset, so the portable word is connection_refused on every OS.
std::error_code datagram_error(std::int64_t res) noexcept {
  const std::error_code ec = corio::detail::error_from_result(res);
  if (ec == std::errc::connection_reset) return std::make_error_code(std::errc::connection_refused);
  return ec;
}
}  // namespace

result<std::size_t> finish_recv(std::int64_t res,
                                const corio::detail::datagram_state& st) noexcept {
  if (res < 0) return fail(datagram_error(res));
  // Linux receives with MSG_TRUNC, which makes the result the datagram's
  // full length: more than the buffer means it was cut. (Windows fails the
  // receive with WSAEMSGSIZE / ERROR_MORE_DATA instead.)
  if (static_cast<std::uint64_t>(res) > st.buf.size) return fail(std::errc::message_size);
  return static_cast<std::size_t>(res);
}

result<datagram> finish_recv_from(std::int64_t res,
                                  const corio::detail::datagram_state& st) noexcept {
  auto n = finish_recv(res, st);
  if (!n) return fail(n.error());
  // The family in the first bytes says how much of the storage is the
  // address; the storage is large enough for any.
  auto from = corio::detail::sys::from_sockaddr(st.peer.bytes, sizeof st.peer.bytes);
  if (!from) return fail(from.error());
  return datagram{*n, *from};
}

send_awaiter::send_awaiter(corio::detail::socket_core* s, const void* data, std::size_t size,
                           const endpoint* to) noexcept {
  op_.code = corio::detail::op_code::send_to;
  op_.sock = s;
  st_.buf = {data, size};
  if (to) corio::detail::sys::to_sockaddr(*to, st_.peer);  // else size 0: the connected peer
}

result<std::size_t> send_awaiter::await_resume() noexcept {
  if (auto refused = claim_.finish(op_.sock)) return fail(refused);
  if (op_.res < 0) return fail(datagram_error(op_.res));
  return static_cast<std::size_t>(op_.res);
}

}  // namespace detail_udp

result<udp_socket> udp_socket::open(endpoint::family af) noexcept {
  auto h = corio::detail::sys::open_udp(af);
  if (!h) return fail(h.error());
  return udp_socket(corio::detail::sys::adopt(*h), af);
}

result<udp_socket> udp_socket::bind(const endpoint& at) noexcept {
  auto s = open(at.af());
  if (!s) return s;
  if (auto ok = corio::detail::sys::bind_to(s->sock_->handle, at); !ok) return fail(ok.error());
  return s;
}

result<void> udp_socket::connect(const endpoint& peer) noexcept {
  if (!sock_) return fail(errc::not_open);
  if (peer.af() != family_) return fail(std::errc::address_family_not_supported);
  return corio::detail::sys::connect_datagram(sock_->handle, peer);
}

result<endpoint> udp_socket::local_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::local_endpoint(sock_->handle);
}

result<endpoint> udp_socket::peer_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::peer_endpoint(sock_->handle);
}

result<void> udp_socket::set_broadcast(bool on) noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::set_broadcast(sock_->handle, on);
}

result<void> udp_socket::join_multicast(const endpoint& group,
                                        std::uint32_t interface_index) noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::multicast_membership(sock_->handle, family_, group, interface_index,
                                                  true);
}

result<void> udp_socket::leave_multicast(const endpoint& group,
                                         std::uint32_t interface_index) noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::multicast_membership(sock_->handle, family_, group, interface_index,
                                                  false);
}

result<void> udp_socket::set_multicast_loop(bool on) noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::set_multicast_loop(sock_->handle, family_, on);
}

result<void> udp_socket::set_multicast_ttl(std::uint8_t hops) noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::set_multicast_ttl(sock_->handle, family_, hops);
}

result<void> udp_socket::set_send_buffer_size(std::size_t bytes) noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::set_buffer_size(sock_->handle, true, bytes);
}

result<void> udp_socket::set_receive_buffer_size(std::size_t bytes) noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::set_buffer_size(sock_->handle, false, bytes);
}

result<std::size_t> udp_socket::send_buffer_size() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::buffer_size(sock_->handle, true);
}

result<std::size_t> udp_socket::receive_buffer_size() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return corio::detail::sys::buffer_size(sock_->handle, false);
}

}  // namespace corio::net
