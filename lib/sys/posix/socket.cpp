// lib/sys/posix/socket.cpp: synchronous socket calls on Linux, shared by the
// io_uring and epoll backends.
#include "sys/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

namespace corio::detail::sys {

std::error_code last_error() noexcept { return {errno, std::generic_category()}; }

result<native_socket> open_tcp(net::endpoint::family af) noexcept {
  int domain = af == net::endpoint::family::v4 ? AF_INET : AF_INET6;
  int fd = ::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(last_error());
  return fd;
}

result<native_socket> open_udp(net::endpoint::family af) noexcept {
  int domain = af == net::endpoint::family::v4 ? AF_INET : AF_INET6;
  int fd = ::socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(last_error());
  return fd;
}

result<native_socket> open_unix() noexcept {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(last_error());
  return fd;
}

result<void> bind_listen_at(native_socket h, const address_storage& addr, int backlog) noexcept {
  const int fd = static_cast<int>(h);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(addr.bytes), addr.size) != 0)
    return fail(last_error());
  if (::listen(fd, backlog) != 0) return fail(last_error());
  return {};
}

result<void> bind_to(native_socket h, const net::endpoint& at) noexcept {
  address_storage addr;
  to_sockaddr(at, addr);
  if (::bind(static_cast<int>(h), reinterpret_cast<const sockaddr*>(addr.bytes), addr.size) != 0)
    return fail(last_error());
  return {};
}

result<void> connect_datagram(native_socket h, const net::endpoint& peer) noexcept {
  address_storage addr;
  to_sockaddr(peer, addr);
  if (::connect(static_cast<int>(h), reinterpret_cast<const sockaddr*>(addr.bytes), addr.size) != 0)
    return fail(last_error());
  return {};
}

void close_handle(native_socket h) noexcept { ::close(static_cast<int>(h)); }

result<void> bind_listen(native_socket h, const net::endpoint& at,
                         const net::listen_options& options) noexcept {
  int fd = static_cast<int>(h);
  int one = 1;
  if (options.reuse_address && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return fail(last_error());
  if (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return fail(last_error());
  address_storage addr;
  to_sockaddr(at, addr);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(addr.bytes), addr.size) != 0)
    return fail(last_error());
  if (::listen(fd, options.backlog) != 0) return fail(last_error());
  return {};
}

result<void> bind_source(native_socket h, const net::endpoint& from) noexcept {
  int fd = static_cast<int>(h);
  if (from.port() == 0) {
    // Without it, bind reserves a port that no other socket on `from` may
    // use, whatever the destination: one source address would then give at
    // most one ephemeral range of connections in all. Linux 4.2+; older
    // kernels refuse the option, and the bind below still works.
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  }
  address_storage addr;
  to_sockaddr(from, addr);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(addr.bytes), addr.size) != 0)
    return fail(last_error());
  return {};
}

result<net::endpoint> local_endpoint(native_socket h) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(static_cast<int>(h), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return fail(last_error());
  return from_sockaddr(&ss, len);
}

result<net::endpoint> peer_endpoint(native_socket h) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(static_cast<int>(h), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return fail(last_error());
  return from_sockaddr(&ss, len);
}

result<void> shutdown(native_socket h, net::basic_stream::shutdown_how how) noexcept {
  using enum net::basic_stream::shutdown_how;
  int native = how == send ? SHUT_WR : how == receive ? SHUT_RD : SHUT_RDWR;
  if (::shutdown(static_cast<int>(h), native) != 0) return fail(last_error());
  return {};
}

result<void> set_nodelay(native_socket h, bool on) noexcept {
  int v = on ? 1 : 0;
  if (::setsockopt(static_cast<int>(h), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0)
    return fail(last_error());
  return {};
}

result<void> set_cork(native_socket h, bool on) noexcept {
  int v = on ? 1 : 0;
  if (::setsockopt(static_cast<int>(h), IPPROTO_TCP, TCP_CORK, &v, sizeof v) != 0)
    return fail(last_error());
  return {};
}

void abort_pending(native_socket h) noexcept {
  // Wakes a pending recv (0), send (EPIPE), poll (POLLHUP) and, on a
  // listening socket, accept (EINVAL), under io_uring and epoll alike; and
  // it sticks: a later call fails or sees the end at once.
  (void)::shutdown(static_cast<int>(h), SHUT_RDWR);
}

namespace {
result<void> set_int(native_socket h, int level, int name, int value) noexcept {
  if (::setsockopt(static_cast<int>(h), level, name, &value, sizeof value) != 0)
    return fail(last_error());
  return {};
}
result<int> get_int(native_socket h, int level, int name) noexcept {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(static_cast<int>(h), level, name, &value, &len) != 0) return fail(last_error());
  return value;
}
// Seconds as the int the options take (at least 1: 0 means "keep the default").
int whole_seconds(std::chrono::seconds s) noexcept {
  return static_cast<int>(std::clamp<std::int64_t>(s.count(), 1, 0x7fffffff));
}
}  // namespace

result<void> set_keepalive(native_socket h, const net::keepalive_options& o) noexcept {
  if (auto ok = set_int(h, SOL_SOCKET, SO_KEEPALIVE, o.enabled ? 1 : 0); !ok || !o.enabled)
    return ok;
  if (o.idle.count() > 0) {
    if (auto ok = set_int(h, IPPROTO_TCP, TCP_KEEPIDLE, whole_seconds(o.idle)); !ok) return ok;
  }
  if (o.interval.count() > 0) {
    if (auto ok = set_int(h, IPPROTO_TCP, TCP_KEEPINTVL, whole_seconds(o.interval)); !ok)
      return ok;
  }
  if (o.count > 0) return set_int(h, IPPROTO_TCP, TCP_KEEPCNT, o.count);
  return {};
}

result<void> set_linger(native_socket h, bool on, int seconds) noexcept {
  linger l{};
  l.l_onoff = on ? 1 : 0;
  l.l_linger = on ? seconds : 0;
  if (::setsockopt(static_cast<int>(h), SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0)
    return fail(last_error());
  return {};
}

result<void> set_buffer_size(native_socket h, bool send, std::size_t bytes) noexcept {
  const int v = static_cast<int>(std::min<std::size_t>(bytes, 0x7fffffff));
  return set_int(h, SOL_SOCKET, send ? SO_SNDBUF : SO_RCVBUF, v);
}

result<std::size_t> buffer_size(native_socket h, bool send) noexcept {
  auto v = get_int(h, SOL_SOCKET, send ? SO_SNDBUF : SO_RCVBUF);
  if (!v) return fail(v.error());
  return static_cast<std::size_t>(*v);
}

result<void> take_foreign(native_socket h, bool listening) noexcept {
  auto type = get_int(h, SOL_SOCKET, SO_TYPE);
  if (!type) return fail(type.error());  // ENOTSOCK, EBADF
  if (*type != SOCK_STREAM) return fail(std::errc::invalid_argument);
  auto accepting = get_int(h, SOL_SOCKET, SO_ACCEPTCONN);
  if (!accepting) return fail(accepting.error());
  if ((*accepting != 0) != listening) return fail(std::errc::invalid_argument);
  const int fd = static_cast<int>(h);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return fail(last_error());
  // Close-on-exec, as corio's own sockets are: best effort.
  (void)::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
  return {};
}

void disown_handle(native_socket) noexcept {}

}  // namespace corio::detail::sys

namespace corio::detail {

// On Linux every backend reports negated errno values.
std::error_code error_from_result(std::int64_t res) noexcept {
  return {static_cast<int>(-res), std::generic_category()};
}

}  // namespace corio::detail
