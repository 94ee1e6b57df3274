// demos/common/host.hpp: a client demo's --host, a name or an address.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corio/net/endpoint.hpp"
#include "corio/runtime.hpp"

namespace demo {

/// A server's --host: an IPv4 or IPv6 address ("[::1]" too) on `port`, or
/// nothing when it is not one.
std::optional<corio::net::endpoint> listen_address(std::string_view host, std::uint16_t port);

/// Every endpoint of `host` (a name such as "localhost", or an IPv4/IPv6
/// address, "[::1]" too) on `port`, in the system's order. An address is
/// parsed here; a name is resolved once with corio::net::resolve on a
/// one-thread runtime of `backend` (a name needs the blocking pool), bounded
/// by 10 s. On failure prints "<program>: --host HOST: reason" on stderr and
/// returns nothing (the demo then exits 1).
std::optional<std::vector<corio::net::endpoint>> resolve_host(std::string_view program,
                                                             const std::string& host,
                                                             std::uint16_t port,
                                                             corio::backend_kind backend);

}  // namespace demo
