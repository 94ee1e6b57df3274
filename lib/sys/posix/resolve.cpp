// lib/sys/posix/resolve.cpp: getaddrinfo, and its EAI_* codes as
// net::resolve_errc.
#include "sys/resolve.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "corio/net/resolve.hpp"
#include "sys/socket.hpp"

namespace corio::detail::sys {

namespace {
std::error_code from_eai(int rc, int saved_errno) noexcept {
  using net::resolve_errc;
  switch (rc) {
    case EAI_NONAME: return resolve_errc::host_not_found;
#ifdef EAI_NODATA
    case EAI_NODATA: return resolve_errc::no_address;
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY: return resolve_errc::no_address;
#endif
    case EAI_AGAIN: return resolve_errc::try_again;
    case EAI_FAIL: return resolve_errc::failed;
    case EAI_SERVICE: return resolve_errc::service_not_found;
    case EAI_MEMORY: return resolve_errc::out_of_memory;
    case EAI_SYSTEM:
      return saved_errno ? std::error_code(saved_errno, std::generic_category())
                         : make_error_code(resolve_errc::failed);
    default: return resolve_errc::failed;
  }
}
}  // namespace

std::error_code lookup(const std::string& host, const std::string& service,
                       std::vector<net::endpoint>& out) noexcept {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* list = nullptr;
  errno = 0;
  const int rc = ::getaddrinfo(host.c_str(), service.empty() ? "0" : service.c_str(), &hints, &list);
  if (rc != 0) return from_eai(rc, errno);
  std::error_code ec;
  try {
    for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
      auto ep = from_sockaddr(ai->ai_addr, static_cast<std::uint32_t>(ai->ai_addrlen));
      if (ep && std::find(out.begin(), out.end(), *ep) == out.end()) out.push_back(*ep);
    }
  } catch (const std::bad_alloc&) {
    ec = net::resolve_errc::out_of_memory;
  }
  ::freeaddrinfo(list);
  if (!ec && out.empty()) ec = net::resolve_errc::no_address;
  return ec;
}

}  // namespace corio::detail::sys
