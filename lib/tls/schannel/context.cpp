// lib/tls/schannel/context.cpp: tls::context on SChannel.
// Not written yet: every call reports errc::not_supported (see docs/tls.md).
#include "corio/tls/context.hpp"

namespace corio::tls {

namespace detail {
struct context_impl {};
}  // namespace detail

namespace {
std::unexpected<std::error_code> unsupported() noexcept {
  return fail(make_error_code(errc::not_supported));
}
}  // namespace

result<context> context::create(role) noexcept { return unsupported(); }
result<void> context::use_certificate_chain_file(const char*) noexcept { return unsupported(); }
result<void> context::use_private_key_file(const char*) noexcept { return unsupported(); }
result<void> context::use_certificate_chain_pem(std::string_view) noexcept { return unsupported(); }
result<void> context::use_private_key_pem(std::string_view) noexcept { return unsupported(); }
result<void> context::trust_system_roots() noexcept { return unsupported(); }
result<void> context::trust_file(const char*) noexcept { return unsupported(); }
result<void> context::trust_pem(std::string_view) noexcept { return unsupported(); }
void context::set_verify_peer(bool) noexcept {}
void context::set_session_resumption(bool) noexcept {}
result<void> context::set_alpn(std::span<const std::string_view>) noexcept { return unsupported(); }
void* context::native_handle() const noexcept { return nullptr; }

}  // namespace corio::tls
