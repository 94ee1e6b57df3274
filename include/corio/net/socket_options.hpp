// corio/net/socket_options.hpp: the option types of tcp_stream's socket
// options (set_keepalive, set_linger, buffer sizes).
#pragma once

#include <chrono>

namespace corio::net {

/// TCP keep-alive: after `idle` without traffic the OS probes the peer
/// every `interval`, and drops the connection (reads and writes then fail
/// with std::errc::timed_out or connection_reset) after `count` probes
/// without an answer. A zero field keeps the OS's default for it.
///
/// Linux sets all three (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, in whole
/// seconds). Windows sets idle and interval (SIO_KEEPALIVE_VALS, so both
/// are set whenever either is given: the other then takes Windows' default,
/// 2 hours and 1 second) and `count` where the system has TCP_KEEPCNT
/// (Windows 10 1703+), std::errc::not_supported elsewhere.
struct keepalive_options {
  /// false turns keep-alive off (the other fields are then ignored).
  bool enabled = true;
  std::chrono::seconds idle{0};
  std::chrono::seconds interval{0};
  int count = 0;
};

}  // namespace corio::net
