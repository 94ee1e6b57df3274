// tests/tls/engine_probe.hpp: can this platform's TLS library serve a
// handshake at all? Wine's SChannel implements the client side only: its
// AcceptSecurityContext answers a ClientHello with SEC_E_UNSUPPORTED_FUNCTION.
// Tests that need a corio TLS server skip with that status, and only then
// (on real Windows they run).
#pragma once

#include <optional>
#include <string>

#include "corio/tls/context.hpp"
#include "corio/tls/detail/engine.hpp"
#include "tls/certs.hpp"

namespace corio::test::tls {

/// A server context with the test server's certificate and a client
/// context that trusts the test CA (empty if either cannot be made).
struct context_pair {
  corio::tls::context server, client;
};
std::optional<context_pair> make_contexts(const cert_set& certs);

/// Moves what `from` has queued to send into `to`'s input, as far as `to`
/// has room (a socket between two engines, in memory).
void pump(corio::tls::detail::engine& from, corio::tls::detail::engine& to);

/// Runs both sides' handshakes through memory: ok when both finished, the
/// first failure otherwise (from the client's or the server's step).
corio::tls::detail::step handshake_through_memory(corio::tls::detail::engine& client,
                                                  corio::tls::detail::engine& server);

/// Empty when a server engine with `certs.server` answers a client
/// engine's ClientHello (handshake through memory, no sockets); otherwise
/// the failing call and its status, when the library reports that it does
/// not support serving (errc::not_supported). Computed once.
const std::string& server_side_blocked(const cert_set& certs);

}  // namespace corio::test::tls
