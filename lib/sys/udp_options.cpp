// lib/sys/udp_options.cpp: the UDP socket options (broadcast, multicast),
// which take the same calls on POSIX and Windows but for the option
// structures and the char* of Winsock's setsockopt.
#ifdef _WIN32
#include "sys/win/winsock.hpp"
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <cstring>

#include "sys/socket.hpp"

namespace corio::detail::sys {

namespace {

#ifdef _WIN32
using native_handle_t = SOCKET;
native_handle_t native(native_socket h) noexcept { return win::to_socket(h); }
#else
using native_handle_t = int;
native_handle_t native(native_socket h) noexcept { return static_cast<int>(h); }
#endif

template <class T>
result<void> set(native_socket h, int level, int name, const T& value) noexcept {
  if (::setsockopt(native(h), level, name, reinterpret_cast<const char*>(&value),
                   static_cast<int>(sizeof value)) != 0)
    return fail(last_error());
  return {};
}

}  // namespace

result<void> set_broadcast(native_socket h, bool on) noexcept {
  const int v = on ? 1 : 0;
  return set(h, SOL_SOCKET, SO_BROADCAST, v);
}

result<void> multicast_membership(native_socket h, net::endpoint::family af,
                                  const net::endpoint& group, std::uint32_t interface_index,
                                  bool join) noexcept {
  if (group.af() != af) return fail(std::errc::address_family_not_supported);
  if (af == net::endpoint::family::v4) {
#ifdef _WIN32
    // Windows reads an imr_interface in 0.0.0.0/8 as an interface index.
    ip_mreq m{};
    std::memcpy(&m.imr_multiaddr, group.bytes().data(), 4);
    m.imr_interface.s_addr = htonl(interface_index);
#else
    ip_mreqn m{};
    std::memcpy(&m.imr_multiaddr, group.bytes().data(), 4);
    m.imr_ifindex = static_cast<int>(interface_index);
#endif
    return set(h, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, m);
  }
  ipv6_mreq m{};
  std::memcpy(&m.ipv6mr_multiaddr, group.bytes().data(), 16);
  m.ipv6mr_interface = interface_index;
  return set(h, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, m);
}

result<void> set_multicast_loop(native_socket h, net::endpoint::family af, bool on) noexcept {
  const int v = on ? 1 : 0;
  if (af == net::endpoint::family::v4) return set(h, IPPROTO_IP, IP_MULTICAST_LOOP, v);
  return set(h, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, v);
}

result<void> set_multicast_ttl(native_socket h, net::endpoint::family af, int hops) noexcept {
  if (af == net::endpoint::family::v4) return set(h, IPPROTO_IP, IP_MULTICAST_TTL, hops);
  return set(h, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops);
}

}  // namespace corio::detail::sys
