// demos/common/tls.hpp: the server side of a demo's --tls-cert/--tls-key.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "corio/tls/context.hpp"

namespace demo {

/// A server TLS context with the certificate chain and key from these PEM
/// files (and these ALPN protocols, if any), or nullopt after printing
/// "PROGRAM: --tls-cert FILE: why" (or --tls-key) to stderr.
std::optional<corio::tls::context> server_tls(std::string_view program, const std::string& cert,
                                              const std::string& key,
                                              std::span<const std::string_view> alpn = {});

}  // namespace demo
