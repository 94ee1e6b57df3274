// lib/sys/resolve.hpp: the system's name lookup, blocking (it runs on the
// blocking pool): getaddrinfo (sys/posix/resolve.cpp), GetAddrInfoW
// (sys/win/resolve.cpp).
#pragma once

#include <string>
#include <system_error>
#include <vector>

#include "corio/net/endpoint.hpp"

namespace corio::detail::sys {

/// Appends every TCP endpoint of `host` and `service` (checked by the
/// caller: no NUL, valid UTF-8; an empty service means port 0) to `out`, in
/// the system's order, without duplicates. Returns a net::resolve_errc (or
/// a generic error) on failure.
std::error_code lookup(const std::string& host, const std::string& service,
                       std::vector<net::endpoint>& out) noexcept;

}  // namespace corio::detail::sys
