// corio/tls/context.hpp: what TLS streams share: role, credentials, trusted
// roots, ALPN, the client's session cache.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "corio/result.hpp"
#include "corio/tls/error.hpp"

namespace corio::tls {

namespace detail {
struct context_impl;  // per platform: lib/tls/openssl, lib/tls/schannel
}

/// Which side of the handshake a context serves.
enum class role { client, server };

/// Settings shared by many TLS streams: build one per role at start-up, then
/// make streams from it on any thread. Copies share one underlying context
/// (OpenSSL's SSL_CTX, SChannel's credentials handle), which lives as long
/// as the last copy or stream that uses it. Configure it before the first
/// stream is made; the setters are not synchronized with running streams.
///
/// Defaults: TLS 1.2 minimum; a client trusts the system's roots and
/// verifies the peer's certificate and host name; a server asks for no
/// client certificate.
class context {
 public:
  /// A new context for `r`. Fails with errc::not_supported where the
  /// platform's TLS library cannot be initialised.
  static result<context> create(role r) noexcept;

  /// The certificate chain (leaf first) from a PEM file.
  result<void> use_certificate_chain_file(const char* path) noexcept;
  /// The private key (PEM, unencrypted) from a file.
  result<void> use_private_key_file(const char* path) noexcept;
  /// The certificate chain (leaf first) from PEM text in memory.
  result<void> use_certificate_chain_pem(std::string_view pem) noexcept;
  /// The private key from PEM text in memory.
  result<void> use_private_key_pem(std::string_view pem) noexcept;

  /// Trusts the system's root certificates (a client does by default).
  result<void> trust_system_roots() noexcept;
  /// Trusts the certificates of a PEM file (a private CA, a self-signed
  /// server certificate).
  result<void> trust_file(const char* path) noexcept;
  /// Trusts the certificates of PEM text in memory.
  result<void> trust_pem(std::string_view pem) noexcept;

  /// Turns certificate and host-name verification off (on by default for
  /// clients). For measurements and tests only: anyone can then pose as the
  /// server.
  void set_verify_peer(bool on) noexcept;

  /// Whether a client offers the session saved from its last connection to
  /// the same server name (on by default): a resumed handshake skips the
  /// certificate exchange and its signatures.
  void set_session_resumption(bool on) noexcept;

  /// The application protocols, most preferred first ("h2", "http/1.1").
  /// A client offers them; a server picks the first of its own list that the
  /// client offered (none agreed: the handshake goes on without ALPN).
  result<void> set_alpn(std::span<const std::string_view> protocols) noexcept;

  /// The platform's context (OpenSSL: SSL_CTX*; SChannel: the CredHandle*, null
  /// until the first stream acquired it), for options corio does not
  /// wrap.
  void* native_handle() const noexcept;

  /// The shared state, for tls::stream.
  const std::shared_ptr<detail::context_impl>& impl() const noexcept { return impl_; }

 private:
  explicit context(std::shared_ptr<detail::context_impl> impl) noexcept : impl_(std::move(impl)) {}
  std::shared_ptr<detail::context_impl> impl_;
};

}  // namespace corio::tls
