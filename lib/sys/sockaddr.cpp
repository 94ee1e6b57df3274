// lib/sys/sockaddr.cpp: endpoints to and from the OS's sockaddr layout,
// which is the same on POSIX and Windows (only the header differs).
#ifdef _WIN32
#include "sys/win/winsock.hpp"
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <algorithm>
#include <cstring>

#include "sys/socket.hpp"

namespace corio::detail::sys {

void to_sockaddr(const net::endpoint& ep, address_storage& out) noexcept {
  std::memset(out.bytes, 0, sizeof out.bytes);
  if (ep.is_v4()) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(ep.port());
    std::memcpy(&sa.sin_addr, ep.bytes().data(), 4);
    std::memcpy(out.bytes, &sa, sizeof sa);
    out.size = sizeof sa;
  } else {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(ep.port());
    sa.sin6_scope_id = ep.scope_id();
    std::memcpy(&sa.sin6_addr, ep.bytes().data(), 16);
    std::memcpy(out.bytes, &sa, sizeof sa);
    out.size = sizeof sa;
  }
}

result<net::endpoint> from_sockaddr(const void* addr, std::uint32_t size) noexcept {
  sockaddr_storage ss{};
  std::memcpy(&ss, addr, std::min<std::size_t>(size, sizeof ss));
  if (ss.ss_family == AF_INET && size >= sizeof(sockaddr_in)) {
    sockaddr_in sa;
    std::memcpy(&sa, &ss, sizeof sa);
    std::array<std::uint8_t, 4> a;
    std::memcpy(a.data(), &sa.sin_addr, 4);
    return net::endpoint::v4(a, ntohs(sa.sin_port));
  }
  if (ss.ss_family == AF_INET6 && size >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sa;
    std::memcpy(&sa, &ss, sizeof sa);
    std::array<std::uint8_t, 16> a;
    std::memcpy(a.data(), &sa.sin6_addr, 16);
    return net::endpoint::v6(a, ntohs(sa.sin6_port), sa.sin6_scope_id);
  }
  return fail(std::errc::address_family_not_supported);
}

}  // namespace corio::detail::sys
