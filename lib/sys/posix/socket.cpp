// lib/sys/posix/socket.cpp: synchronous socket calls on Linux, shared by the
// io_uring and epoll backends.
#include "sys/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace corio::detail::sys {

std::error_code last_error() noexcept { return {errno, std::generic_category()}; }

result<native_socket> open_tcp(net::endpoint::family af) noexcept {
  int domain = af == net::endpoint::family::v4 ? AF_INET : AF_INET6;
  int fd = ::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(last_error());
  return fd;
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

result<void> shutdown(native_socket h, net::tcp_stream::shutdown_how how) noexcept {
  using enum net::tcp_stream::shutdown_how;
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

void abort_pending(native_socket h) noexcept {
  // Wakes a pending recv (0), send (EPIPE), poll (POLLHUP) and, on a
  // listening socket, accept (EINVAL), under io_uring and epoll alike; and
  // it sticks: a later call fails or sees the end at once.
  (void)::shutdown(static_cast<int>(h), SHUT_RDWR);
}

}  // namespace corio::detail::sys

namespace corio::detail {

// On Linux every backend reports negated errno values.
std::error_code error_from_result(std::int64_t res) noexcept {
  return {static_cast<int>(-res), std::generic_category()};
}

}  // namespace corio::detail
