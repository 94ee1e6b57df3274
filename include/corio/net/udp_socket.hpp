// corio/net/udp_socket.hpp: a UDP socket: datagrams to and from any peer
// (send_to, recv_from), or to and from one connected peer (send, recv).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "corio/detail/socket.hpp"
#include "corio/net/endpoint.hpp"
#include "corio/result.hpp"

namespace corio::net {

/// One datagram received by recv_from: its size and who sent it.
struct datagram {
  std::size_t size = 0;
  endpoint from;
};

namespace detail_udp {

/// A finished receive's result: the size (and sender), or the error
/// (message_size for a datagram larger than the buffer).
result<datagram> finish_recv_from(std::int64_t res, const corio::detail::datagram_state& st) noexcept;
result<std::size_t> finish_recv(std::int64_t res, const corio::detail::datagram_state& st) noexcept;

/// recv_from (WithPeer) and recv: one datagram into the buffer. Holds the
/// socket's reading direction, as a stream read does: a second receive on
/// the same socket while one is in flight fails with
/// errc::concurrent_operation, and closing the socket cancels it.
template <bool WithPeer>
class [[nodiscard("a receive does nothing until it is co_awaited")]] receive_awaiter
    : public corio::detail::op_awaiter_base<receive_awaiter<WithPeer>> {
 public:
  receive_awaiter(corio::detail::socket_core* s, void* data, std::size_t size) noexcept {
    op_.code = corio::detail::op_code::recv_from;
    op_.sock = s;
    st_.buf = {data, size};
  }
  corio::detail::operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!claim_.take(op_.sock)) return false;
    op_.args.datagram = &st_;  // here, not at construction: the awaiter may have moved since
    return corio::detail::start(op_);
  }
  /// recv_from: the datagram's size and sender; recv: its size.
  /// std::errc::message_size when the datagram was larger than the buffer
  /// (the buffer then holds its first bytes; the rest is gone).
  auto await_resume() noexcept -> result<std::conditional_t<WithPeer, datagram, std::size_t>> {
    if (auto refused = claim_.finish(op_.sock)) return fail(refused);
    if constexpr (WithPeer) {
      return finish_recv_from(op_.res, st_);
    } else {
      return finish_recv(op_.res, st_);
    }
  }

 private:
  corio::detail::operation op_;
  corio::detail::half_claim<false> claim_;
  corio::detail::datagram_state st_;
};

/// send_to and send: one datagram. Holds the socket's writing direction.
class [[nodiscard("a send does nothing until it is co_awaited")]] send_awaiter
    : public corio::detail::op_awaiter_base<send_awaiter> {
 public:
  /// `to` null: the connected peer.
  send_awaiter(corio::detail::socket_core* s, const void* data, std::size_t size,
               const endpoint* to) noexcept;
  corio::detail::operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!claim_.take(op_.sock)) return false;
    op_.args.datagram = &st_;
    return corio::detail::start(op_);
  }
  /// The bytes sent: the whole datagram (UDP never sends part of one).
  result<std::size_t> await_resume() noexcept;

 private:
  corio::detail::operation op_;
  corio::detail::half_claim<true> claim_;
  corio::detail::datagram_state st_;
};

}  // namespace detail_udp

/// A UDP socket, IPv4 or IPv6. Move-only; closing (or destroying) it closes
/// the socket, and a receive or send still in flight then completes with
/// std::errc::operation_canceled. One receive and one send may be in flight
/// at a time (each fails with errc::concurrent_operation otherwise), from
/// one coroutine or two. Allocates nothing per datagram.
///
/// A datagram larger than the buffer is never cut silently: the receive
/// fails with std::errc::message_size (Linux: MSG_TRUNC; Windows:
/// WSAEMSGSIZE), the buffer holds the datagram's first bytes, and the rest
/// of it is gone. Every completion resumes the caller on a runtime worker.
class udp_socket {
 public:
  udp_socket() noexcept = default;

  /// An unbound socket of family `af`; the system binds it to a free port
  /// at its first send.
  static result<udp_socket> open(endpoint::family af) noexcept;
  /// A socket bound to `at` (port 0 picks a free port: see
  /// local_endpoint). std::errc::address_in_use when the port is taken.
  static result<udp_socket> bind(const endpoint& at) noexcept;

  /// Sets the socket's one peer: send() goes there, recv() takes datagrams
  /// from it only, and an ICMP "port unreachable" in answer makes a later
  /// recv() or send() fail with std::errc::connection_refused (on Windows
  /// too, where the system says WSAECONNRESET). Completes at once.
  result<void> connect(const endpoint& peer) noexcept;

  /// Receives one datagram into `buf` and says who sent it.
  template <corio::detail::byte_range R>
  auto recv_from(R&& buf) noexcept {
    return detail_udp::receive_awaiter<true>(sock_.get(), std::ranges::data(buf),
                                             std::ranges::size(buf));
  }
  /// Receives one datagram from the connected peer; its size.
  template <corio::detail::byte_range R>
  auto recv(R&& buf) noexcept {
    return detail_udp::receive_awaiter<false>(sock_.get(), std::ranges::data(buf),
                                              std::ranges::size(buf));
  }
  /// Sends `buf` as one datagram to `to` (`to` is copied). An empty buffer
  /// sends an empty datagram. std::errc::message_size when it is larger
  /// than the protocol allows.
  template <corio::detail::writable_bytes R>
  auto send_to(const R& buf, const endpoint& to) noexcept {
    return detail_udp::send_awaiter(sock_.get(), std::ranges::data(buf), std::ranges::size(buf),
                                    &to);
  }
  /// Sends `buf` as one datagram to the connected peer
  /// (std::errc::destination_address_required when there is none).
  template <corio::detail::writable_bytes R>
  auto send(const R& buf) noexcept {
    return detail_udp::send_awaiter(sock_.get(), std::ranges::data(buf), std::ranges::size(buf),
                                    nullptr);
  }

  result<endpoint> local_endpoint() const noexcept;
  /// The connected peer; std::errc::not_connected before connect().
  result<endpoint> peer_endpoint() const noexcept;

  // ---- Options. Each completes at once; errc::not_open on a closed socket.

  /// SO_BROADCAST: allows sending to a broadcast address.
  result<void> set_broadcast(bool on) noexcept;
  /// Joins (leaves) the multicast group `group` (its port is ignored) on the
  /// interface with index `interface_index` (0: the one the system routes
  /// the group to). IPv4 groups on an IPv4 socket, IPv6 groups on an IPv6
  /// one (std::errc::address_family_not_supported otherwise).
  result<void> join_multicast(const endpoint& group, std::uint32_t interface_index = 0) noexcept;
  result<void> leave_multicast(const endpoint& group, std::uint32_t interface_index = 0) noexcept;
  /// Whether datagrams this socket sends to a group it belongs to come back
  /// to it (IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP; on by default).
  result<void> set_multicast_loop(bool on) noexcept;
  /// How many routers a multicast datagram may cross (IP_MULTICAST_TTL /
  /// IPV6_MULTICAST_HOPS; 1 by default, 0-255).
  result<void> set_multicast_ttl(std::uint8_t hops) noexcept;
  /// SO_SNDBUF / SO_RCVBUF (see tcp_stream's).
  result<void> set_send_buffer_size(std::size_t bytes) noexcept;
  result<void> set_receive_buffer_size(std::size_t bytes) noexcept;
  result<std::size_t> send_buffer_size() const noexcept;
  result<std::size_t> receive_buffer_size() const noexcept;

  /// Closes the socket; operations in flight on it complete with
  /// std::errc::operation_canceled, and it is released after the last of
  /// them. Any thread.
  void close() noexcept { sock_.reset(); }
  bool is_open() const noexcept { return sock_ != nullptr; }
  /// The OS handle, for options corio does not wrap.
  corio::detail::native_socket native_handle() const noexcept {
    return sock_ ? sock_->handle : corio::detail::invalid_socket;
  }

 private:
  udp_socket(corio::detail::socket_ptr s, endpoint::family af) noexcept
      : sock_(std::move(s)), family_(af) {}
  corio::detail::socket_ptr sock_;
  endpoint::family family_ = endpoint::family::v4;
};

}  // namespace corio::net
