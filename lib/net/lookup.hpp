// lib/net/lookup.hpp: what resolve (net/resolve.cpp) shares with connect by
// name (net/connect_by_name.cpp).
#pragma once

#include <atomic>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "corio/net/resolve.hpp"
#include "corio/task.hpp"

namespace corio::net::detail_lookup {

/// Refuses what is not a host name or a service (resolve_errc::invalid_name,
/// service_not_found) before anything reaches the system.
std::error_code check(std::string_view host, std::string_view service) noexcept;

/// The endpoint of a numeric host ("10.0.0.1", "::1", "[::1]") with a
/// numeric (or empty) service, parsed here; nullopt when the system must
/// look it up. `host` and `service` have passed check().
std::optional<endpoint> numeric(std::string_view host, std::string_view service) noexcept;

/// check(), numeric(), else the system's lookup on the blocking pool, which
/// `stop` abandons.
task<resolve_result> lookup(std::string host, std::string service, std::stop_token stop);

/// Test hook: called on the pool thread just before each system lookup
/// (a test holds a lookup there, to cancel it while it runs).
inline std::atomic<void (*)()> before_lookup{nullptr};

/// The order in which connect(span) tries `in`: the families alternate,
/// starting with the family of in[0], each family in its own order
/// (RFC 8305 section 4).
std::vector<endpoint> interleave(std::span<const endpoint> in);

}  // namespace corio::net::detail_lookup
