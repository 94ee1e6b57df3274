// lib/sys/socket.hpp: the synchronous socket calls that every backend
// shares on one OS (sys/posix/socket.cpp, sys/win/socket.cpp). The
// asynchronous operations live in each backend's socket_ops.cpp.
#pragma once

#include "corio/detail/socket.hpp"
#include "corio/net/endpoint.hpp"
#include "corio/net/tcp_listener.hpp"
#include "corio/result.hpp"

namespace corio::detail::sys {

/// The calling thread's last socket error (errno, WSAGetLastError) as an
/// error code that compares equal to std::errc values.
std::error_code last_error() noexcept;

/// A new non-blocking (POSIX) or overlapped (Windows) TCP socket, close-on-exec.
result<native_socket> open_tcp(net::endpoint::family af) noexcept;
/// A new non-blocking (POSIX) or overlapped (Windows) UDP socket,
/// close-on-exec. On Windows, ICMP "port unreachable" is not reported on it
/// (SIO_UDP_CONNRESET off) until connect_datagram: an unconnected socket's
/// receives would otherwise fail for a datagram some other peer refused.
result<native_socket> open_udp(net::endpoint::family af) noexcept;
/// Binds `h` to `at` as it is (no option set).
result<void> bind_to(native_socket h, const net::endpoint& at) noexcept;
/// Connects the datagram socket `h` to `peer` (no packet is sent); on
/// Windows it turns the reporting of ICMP "port unreachable" on.
result<void> connect_datagram(native_socket h, const net::endpoint& peer) noexcept;
/// UDP options (sys/udp_options.cpp); `af` is the socket's family.
result<void> set_broadcast(native_socket h, bool on) noexcept;
result<void> multicast_membership(native_socket h, net::endpoint::family af,
                                  const net::endpoint& group, std::uint32_t interface_index,
                                  bool join) noexcept;
result<void> set_multicast_loop(native_socket h, net::endpoint::family af, bool on) noexcept;
result<void> set_multicast_ttl(native_socket h, net::endpoint::family af, int hops) noexcept;
/// A new non-blocking (POSIX) or overlapped (Windows) Unix-domain stream
/// socket, close-on-exec; std::errc::not_supported where the system has no
/// AF_UNIX (Windows before 10 1803).
result<native_socket> open_unix() noexcept;
/// `name` (a path, or "@name" / "\0name": abstract, Linux only) as a
/// sockaddr_un in `out` (sys/unix_address.cpp). filename_too_long past the
/// system's limit; invalid_argument for an empty name or a path with a NUL;
/// not_supported for an abstract name where there are none.
result<void> unix_address(std::string_view name, address_storage& out) noexcept;
/// Binds `h` to `addr` and listens.
result<void> bind_listen_at(native_socket h, const address_storage& addr, int backlog) noexcept;
/// Closes a handle that no socket_core owns yet.
void close_handle(native_socket h) noexcept;
/// Wraps an open handle in a heap socket_core owned by the returned pointer.
socket_ptr adopt(native_socket h);

/// A default-constructed socket_core, made in the storage of one freed
/// earlier when there is one (so that steady-state accept, a connection
/// closed for each one accepted, allocates nothing), else new. Any thread.
/// Defined once for every OS, in net/socket_core.cpp.
socket_core* new_core();
/// Whether new_core on this thread makes receiving_cores: set by an io_uring
/// worker that keeps a multishot recv per socket, for its thread.
inline constinit thread_local bool make_receiving_cores = false;
/// Destroys `s` (made by new_core) and keeps its storage for new_core, up
/// to a bound; frees it beyond. Any thread.
void free_core(socket_core* s) noexcept;
/// Frees the calling thread's kept storage; a worker calls it as it ends.
void drain_core_cache() noexcept;
/// Frees the storage kept in the shared depot (batches handed over by every
/// thread). Any thread; new_core allocates again until frees refill it.
void drain_core_depot() noexcept;

/// The endpoint in the OS's sockaddr layout, and back.
void to_sockaddr(const net::endpoint& ep, address_storage& out) noexcept;
result<net::endpoint> from_sockaddr(const void* addr, std::uint32_t size) noexcept;

result<void> bind_listen(native_socket h, const net::endpoint& at,
                         const net::listen_options& options) noexcept;
/// Binds a socket that is about to connect to the local endpoint `from`.
/// With port 0, asks the OS to pick the port at connect time from the whole
/// 4-tuple where it can (Linux: IP_BIND_ADDRESS_NO_PORT; Windows:
/// SO_REUSE_UNICASTPORT, best effort), not at bind time from the ports free
/// on `from` alone.
result<void> bind_source(native_socket h, const net::endpoint& from) noexcept;
result<net::endpoint> local_endpoint(native_socket h) noexcept;
result<net::endpoint> peer_endpoint(native_socket h) noexcept;
result<void> shutdown(native_socket h, net::basic_stream::shutdown_how how) noexcept;
result<void> set_nodelay(native_socket h, bool on) noexcept;
/// TCP_CORK on Linux; std::errc::not_supported on Windows.
result<void> set_cork(native_socket h, bool on) noexcept;
/// Makes every operation in flight on `h` complete soon, and every one that
/// starts later fail at once, while the handle stays open (so its number
/// cannot be reused under them): shutdown on Linux; shutdown and CancelIoEx
/// on Windows. Used by socket_closer when a socket is closed in use.
void abort_pending(native_socket h) noexcept;

// ---- Socket options and foreign sockets (net/socket_options.cpp) ----
result<void> set_keepalive(native_socket h, const net::keepalive_options& options) noexcept;
/// SO_LINGER: on with `seconds`, or off.
result<void> set_linger(native_socket h, bool on, int seconds) noexcept;
/// SO_SNDBUF (`send`) or SO_RCVBUF.
result<void> set_buffer_size(native_socket h, bool send, std::size_t bytes) noexcept;
result<std::size_t> buffer_size(native_socket h, bool send) noexcept;
/// Readies a socket made outside corio: checks that it is a stream socket
/// (and listening, when `listening`), makes it non-blocking (POSIX), counts
/// it as open (Windows). Leaves `h` as it was on failure.
result<void> take_foreign(native_socket h, bool listening) noexcept;
/// For a socket that leaves corio without being closed (release()).
void disown_handle(native_socket h) noexcept;

}  // namespace corio::detail::sys
