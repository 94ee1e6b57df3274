// lib/net/basic_stream.cpp: shutting a stream down, for TCP and Unix-domain
// streams alike.
#include "corio/net/basic_stream.hpp"

#include "sys/socket.hpp"

namespace corio::net {

namespace {

// Shuts down `how` on `sock` (null: a closed stream). A stream is connected
// from the start (connect, accept), so "not connected" here means the peer
// reset it: nothing is left to shut down, which is what the caller asked
// for (Tokio answers Ok there too). A whole stream and its write half
// answer alike.
result<void> shut(const detail::socket_core* sock, basic_stream::shutdown_how how) noexcept {
  if (!sock) return fail(errc::not_open);
  auto r = detail::sys::shutdown(sock->handle, how);
  if (!r && r.error() == std::errc::not_connected) return {};
  return r;
}

}  // namespace

result<void> basic_stream::shutdown(shutdown_how how) noexcept { return shut(sock_.get(), how); }

result<void> write_half::shutdown() noexcept {
  return shut(sock_, basic_stream::shutdown_how::send);
}

}  // namespace corio::net
