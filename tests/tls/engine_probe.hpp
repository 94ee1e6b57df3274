// tests/tls/engine_probe.hpp: can this platform's TLS library serve a
// handshake at all? Wine's SChannel implements the client side only: its
// AcceptSecurityContext answers a ClientHello with SEC_E_UNSUPPORTED_FUNCTION.
// Tests that need a corio TLS server skip with that status, and only then
// (on real Windows they run).
#pragma once

#include <string>

#include "tls/certs.hpp"

namespace corio::test::tls {

/// Empty when a server engine with `certs.server` answers a client
/// engine's ClientHello (handshake through memory, no sockets); otherwise
/// the failing call and its status, when the library reports that it does
/// not support serving (errc::not_supported). Computed once.
const std::string& server_side_blocked(const cert_set& certs);

}  // namespace corio::test::tls
