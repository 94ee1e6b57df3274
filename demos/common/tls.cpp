// demos/common/tls.cpp
#include "common/tls.hpp"

#include <fmt/core.h>

namespace demo {

std::optional<corio::tls::context> server_tls(std::string_view program, const std::string& cert,
                                              const std::string& key,
                                              std::span<const std::string_view> alpn) {
  auto ctx = corio::tls::context::create(corio::tls::role::server);
  if (!ctx) {
    fmt::print(stderr, "{}: TLS: {}\n", program, ctx.error().message());
    return std::nullopt;
  }
  if (auto r = ctx->use_certificate_chain_file(cert.c_str()); !r) {
    fmt::print(stderr, "{}: --tls-cert {}: {}\n", program, cert, r.error().message());
    return std::nullopt;
  }
  if (auto r = ctx->use_private_key_file(key.c_str()); !r) {
    fmt::print(stderr, "{}: --tls-key {}: {}\n", program, key, r.error().message());
    return std::nullopt;
  }
  if (!alpn.empty()) {
    if (auto r = ctx->set_alpn(alpn); !r) {
      fmt::print(stderr, "{}: TLS ALPN: {}\n", program, r.error().message());
      return std::nullopt;
    }
  }
  return std::move(*ctx);
}

}  // namespace demo
