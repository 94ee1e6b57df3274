// lib/net/tcp_stream.cpp: connecting, and the composed reads and writes.
#include "corio/net/tcp_stream.hpp"

#include "sys/socket.hpp"

namespace corio::net {

namespace {
// A connect on a socket that the stream does not own yet.
class connect_awaiter : public detail::op_awaiter_base<connect_awaiter> {
 public:
  connect_awaiter(detail::socket_core& s, const endpoint& to) noexcept : sock_(s) {
    detail::sys::to_sockaddr(to, addr_);
  }
  detail::operation& op() noexcept { return op_; }
  bool start() noexcept { return detail::start_connect(op_, sock_, addr_); }
  result<void> await_resume() const noexcept {
    if (op_.res < 0) return fail(detail::error_from_result(op_.res));
    return {};
  }

 private:
  detail::operation op_;
  detail::socket_core& sock_;
  detail::address_storage addr_;
};
}  // namespace

task<result<tcp_stream>> tcp_stream::connect(endpoint to) {
  auto handle = detail::sys::open_tcp(to.af());
  if (!handle) co_return fail(handle.error());
  auto sock = detail::sys::adopt(*handle);
  auto connected = co_await connect_awaiter(*sock, to);
  if (!connected) co_return fail(connected.error());
  co_return tcp_stream(std::move(sock));
}

task<result<void>> read_half::read_exact(std::span<std::byte> buf) {
  while (!buf.empty()) {
    auto n = co_await read(buf);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return fail(errc::unexpected_eof);
    buf = buf.subspan(*n);
  }
  co_return result<void>{};
}

task<result<void>> write_half::write_all(std::span<const std::byte> buf) {
  while (!buf.empty()) {
    auto n = co_await write(buf);
    if (!n) co_return fail(n.error());
    buf = buf.subspan(*n);
  }
  co_return result<void>{};
}

result<void> tcp_stream::shutdown(shutdown_how how) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::shutdown(sock_->handle, how);
}

result<void> tcp_stream::set_nodelay(bool on) noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::set_nodelay(sock_->handle, on);
}

result<endpoint> tcp_stream::local_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::local_endpoint(sock_->handle);
}

result<endpoint> tcp_stream::peer_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::peer_endpoint(sock_->handle);
}

}  // namespace corio::net
