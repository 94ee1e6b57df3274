// lib/sys/win/resolve.cpp: GetAddrInfoW (names in UTF-16, so IDNs work),
// and its Winsock codes as net::resolve_errc.
#include "sys/resolve.hpp"

#include <algorithm>
#include <new>
#include <string>

#include "corio/net/resolve.hpp"
#include "sys/socket.hpp"
#include "sys/win/winsock.hpp"

namespace corio::detail::sys {

namespace {
std::error_code from_wsa(int rc) noexcept {
  using net::resolve_errc;
  switch (rc) {
    case WSAHOST_NOT_FOUND: return resolve_errc::host_not_found;
    case WSANO_DATA: return resolve_errc::no_address;
    case WSATRY_AGAIN: return resolve_errc::try_again;
    case WSANO_RECOVERY: return resolve_errc::failed;
    case WSATYPE_NOT_FOUND: return resolve_errc::service_not_found;
    case WSA_NOT_ENOUGH_MEMORY: return resolve_errc::out_of_memory;
    case WSAEINVAL: return std::make_error_code(std::errc::invalid_argument);
    case WSAEAFNOSUPPORT: return std::make_error_code(std::errc::address_family_not_supported);
    default: return resolve_errc::failed;
  }
}

// UTF-8 to UTF-16; false for bytes that are not UTF-8.
bool widen(const std::string& in, std::wstring& out) {
  if (in.empty()) {
    out.clear();
    return true;
  }
  const int n = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, in.data(),
                                      static_cast<int>(in.size()), nullptr, 0);
  if (n <= 0) return false;
  out.resize(static_cast<std::size_t>(n));
  return ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, in.data(), static_cast<int>(in.size()),
                               out.data(), n) == n;
}
}  // namespace

std::error_code lookup(const std::string& host, const std::string& service,
                       std::vector<net::endpoint>& out) noexcept {
  if (auto ws = win::winsock(); !ws) return ws.error();
  std::error_code ec;
  try {
    std::wstring whost, wservice;
    if (!widen(host, whost)) return net::resolve_errc::invalid_name;
    if (!widen(service.empty() ? std::string("0") : service, wservice))
      return net::resolve_errc::service_not_found;
    ADDRINFOW hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    ADDRINFOW* list = nullptr;
    if (const int rc = ::GetAddrInfoW(whost.c_str(), wservice.c_str(), &hints, &list); rc != 0)
      return from_wsa(rc);
    try {
      for (const ADDRINFOW* ai = list; ai; ai = ai->ai_next) {
        auto ep = from_sockaddr(ai->ai_addr, static_cast<std::uint32_t>(ai->ai_addrlen));
        if (ep && std::find(out.begin(), out.end(), *ep) == out.end()) out.push_back(*ep);
      }
    } catch (const std::bad_alloc&) {
      ec = net::resolve_errc::out_of_memory;
    }
    ::FreeAddrInfoW(list);
  } catch (const std::bad_alloc&) {
    return net::resolve_errc::out_of_memory;
  }
  if (!ec && out.empty()) ec = net::resolve_errc::no_address;
  return ec;
}

}  // namespace corio::detail::sys
