// corio/net/resolve.hpp: host names to endpoints.
#pragma once

#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include "corio/detail/task_operation.hpp"
#include "corio/net/endpoint.hpp"
#include "corio/result.hpp"

namespace corio::net {

/// Why a name could not be resolved (resolve_category()). Each compares
/// equal to the nearest std::errc where one exists.
enum class resolve_errc {
  /// The name does not exist (EAI_NONAME, WSAHOST_NOT_FOUND).
  host_not_found = 1,
  /// The name exists but has no address (of the family asked for)
  /// (EAI_NODATA, EAI_ADDRFAMILY, WSANO_DATA).
  no_address,
  /// A temporary failure of the name server; a later try may work
  /// (EAI_AGAIN, WSATRY_AGAIN). == std::errc::resource_unavailable_try_again.
  try_again,
  /// A non-recoverable failure of the name server (EAI_FAIL, WSANO_RECOVERY).
  failed,
  /// The service is not a port number or a known service name
  /// (EAI_SERVICE, WSATYPE_NOT_FOUND). == std::errc::invalid_argument.
  service_not_found,
  /// The host name is not a name: empty, longer than 253 bytes, a label
  /// longer than 63, an embedded NUL, or not valid UTF-8. Refused without
  /// asking the system. == std::errc::invalid_argument.
  invalid_name,
  /// The system ran out of memory (EAI_MEMORY). == std::errc::not_enough_memory.
  out_of_memory,
};

/// The category of resolve_errc.
const std::error_category& resolve_category() noexcept;

/// Lets a resolve_errc be an std::error_code (`ec == resolve_errc::try_again`).
inline std::error_code make_error_code(resolve_errc e) noexcept {
  return {static_cast<int>(e), resolve_category()};
}

/// What resolve's awaiter gives: every address of the name, in the order
/// the system prefers (RFC 6724 on Linux and Windows).
using resolve_result = result<std::vector<endpoint>>;

/// Resolves `host` (a name, or a numeric IPv4/IPv6 address, "[::1]" too)
/// and `service` (a port number, a service name such as "http", or empty
/// for port 0) to every TCP endpoint they name, IPv6 and IPv4 alike. Resumes
/// on a worker with the endpoints, or a resolve_errc (or
/// std::errc::operation_canceled). A numeric host with a numeric service is
/// parsed at once, without the blocking pool and without suspending;
/// anything else runs getaddrinfo (GetAddrInfoW on Windows) on the blocking
/// pool (see spawn_blocking). Names that are not names (see
/// resolve_errc::invalid_name) never reach the system.
///
/// An operation awaiter: `with_stop(resolve(...), token)` and
/// `with_timeout(resolve(...), d)` cancel it. A lookup not yet started never
/// runs; one already inside getaddrinfo (which cannot be interrupted) is
/// abandoned: the awaiter resumes at once with operation_canceled (or
/// timed_out), and the lookup's result is dropped when it returns (the
/// runtime's shutdown still waits for it).
[[nodiscard]] detail::task_operation<resolve_result> resolve(std::string_view host,
                                                             std::string_view service = {});

}  // namespace corio::net

template <>
struct std::is_error_code_enum<corio::net::resolve_errc> : std::true_type {};
