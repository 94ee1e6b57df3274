// corio/tls/error.hpp: the errors a TLS stream reports.
#pragma once

#include <system_error>

namespace corio::tls {

/// Errors of the TLS layer (the transport's own errors pass through as they
/// are: a reset is still std::errc::connection_reset).
enum class errc {
  /// The handshake failed for a protocol reason (no shared version or cipher,
  /// garbage instead of a handshake message, an alert from the peer).
  handshake_failed = 1,
  /// The peer's certificate chain was refused: self-signed, expired, signed
  /// by no trusted root.
  certificate_rejected,
  /// The certificate is valid but not for the name the client asked for.
  host_name_mismatch,
  /// The transport ended (EOF) without the peer's close_notify: the data may
  /// have been cut short by an attacker or a crash, so it is not a clean end.
  truncated,
  /// A record could not be decrypted or parsed after the handshake.
  protocol_error,
  /// A write after shutdown(), or after the stream failed.
  closed,
  /// A certificate, key or trust file could not be loaded, or the key does
  /// not match the certificate.
  bad_credentials,
  /// The TLS implementation of this platform cannot do what was asked.
  not_supported,
};

/// The category of corio::tls::errc.
const std::error_category& tls_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

}  // namespace corio::tls

template <>
struct std::is_error_code_enum<corio::tls::errc> : std::true_type {};
