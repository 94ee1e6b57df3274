// lib/net/basic_stream.cpp: shutting a stream down, for TCP and Unix-domain
// streams alike.
#include "corio/net/basic_stream.hpp"

#include "sys/socket.hpp"

namespace corio::net {

result<void> basic_stream::shutdown(shutdown_how how) noexcept {
  if (!sock_) return fail(errc::not_open);
  auto r = detail::sys::shutdown(sock_->handle, how);
  // A stream is connected from the start (connect, accept), so "not
  // connected" here means the peer reset it: nothing is left to shut down,
  // which is what the caller asked for (Tokio answers Ok there too).
  if (!r && r.error() == std::errc::not_connected) return {};
  return r;
}

result<void> write_half::shutdown() noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::shutdown(sock_->handle, basic_stream::shutdown_how::send);
}

}  // namespace corio::net
