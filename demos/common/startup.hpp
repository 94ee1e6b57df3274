// demos/common/startup.hpp: what every demo does before its real work:
// enough descriptors, a runtime, and (for servers) a listener, each failure
// said once on stderr.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "corio/net/tcp_listener.hpp"
#include "corio/runtime.hpp"

namespace demo {

/// Lifts the soft descriptor limit to the hard one (many connections need
/// many descriptors); returns the limit now in force (the largest value
/// where there is none, as on Windows).
std::uint64_t raise_descriptor_limit();

/// Starts a runtime; on failure prints "<name>: cannot start the runtime"
/// with the reason and returns nothing (the demo then exits 1).
std::optional<corio::runtime> start_runtime(std::string_view name,
                                            const corio::runtime_options& options);

/// A server demo's runtime and listener.
struct server_start {
  corio::runtime rt;
  corio::net::tcp_listener listener;
};

/// Starts the runtime, binds the listener and prints
/// "<name> listening on ADDR:PORT (backend B, N threads)" on stdout (flushed:
/// scripts wait for it). On failure says why on stderr and returns nothing.
std::optional<server_start> start_server(std::string_view name, const corio::net::endpoint& at,
                                         const corio::runtime_options& options,
                                         const corio::net::listen_options& listen = {});

}  // namespace demo
