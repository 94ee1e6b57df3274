// lib/tls/error.cpp: the TLS error category (both platforms).
#include <string>

#include "corio/tls/error.hpp"

namespace corio::tls {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.tls"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::handshake_failed: return "TLS handshake failed";
      case errc::certificate_rejected: return "the peer's certificate is not trusted";
      case errc::host_name_mismatch: return "the peer's certificate is not valid for the host name";
      case errc::truncated: return "the stream ended without TLS close_notify (truncated)";
      case errc::protocol_error: return "TLS protocol error";
      case errc::closed: return "the TLS stream is shut down or failed";
      case errc::bad_credentials: return "the certificate, key or trust file could not be used";
      case errc::not_supported: return "not supported by this platform's TLS library";
    }
    return "unknown TLS error";
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<errc>(ev)) {
      case errc::not_supported: return std::errc::not_supported;
      case errc::bad_credentials: return std::errc::invalid_argument;
      default: return {ev, *this};
    }
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const category c;
  return c;
}

}  // namespace corio::tls
