// lib/tls/schannel/engine.cpp: the TLS engine on SChannel.
// Not written yet: no engine can be made (context::create already fails).
#include "corio/tls/detail/engine.hpp"
#include "corio/tls/error.hpp"

namespace corio::tls::detail {

struct engine {};

void engine_deleter::operator()(engine* e) const noexcept { delete e; }

result<engine_ptr> make_engine(const std::shared_ptr<context_impl>&, bool, std::string_view) noexcept {
  return fail(make_error_code(errc::not_supported));
}

namespace {
step unsupported() noexcept { return failed_step(make_error_code(errc::not_supported)); }
}  // namespace

step handshake(engine&) noexcept { return unsupported(); }
step read(engine&, void*, std::size_t) noexcept { return unsupported(); }
step write(engine&, const void*, std::size_t) noexcept { return unsupported(); }
step shutdown(engine&) noexcept { return unsupported(); }
std::span<const std::byte> output(engine&) noexcept { return {}; }
void output_sent(engine&, std::size_t) noexcept {}
std::span<std::byte> input_space(engine&) noexcept { return {}; }
void input_received(engine&, std::size_t) noexcept {}
void input_ended(engine&) noexcept {}
std::string_view alpn(engine&) noexcept { return {}; }
std::string_view server_name(engine&) noexcept { return {}; }
bool resumed(engine&) noexcept { return false; }
std::string_view failure_detail(engine&) noexcept { return {}; }
void* native_handle(engine&) noexcept { return nullptr; }

}  // namespace corio::tls::detail
