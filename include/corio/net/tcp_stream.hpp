// corio/net/tcp_stream.hpp: a connected TCP socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <cstdint>
#include <span>
#include <string_view>

#include "corio/detail/socket.hpp"
#include "corio/detail/task_operation.hpp"
#include "corio/net/basic_stream.hpp"
#include "corio/net/endpoint.hpp"
#include "corio/net/socket_options.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace corio::net {

class tcp_stream;

/// tcp_stream::connect's awaiter: an operation awaiter, so with_timeout and
/// with_stop bound and cancel a connect like any other operation.
class [[nodiscard("a connect does nothing until it is co_awaited")]] connect_awaiter
    : public detail::op_awaiter_base<connect_awaiter> {
 public:
  /// Opens the socket now and, when `from` is set, binds it there; a
  /// failure of either is kept and becomes the result, without suspending.
  explicit connect_awaiter(const endpoint& to, const endpoint* from = nullptr) noexcept;
  connect_awaiter(connect_awaiter&&) noexcept = default;
  detail::operation& op() noexcept { return op_; }
  bool start() noexcept;
  /// The connected stream, or the error.
  result<tcp_stream> await_resume() noexcept;

 private:
  detail::operation op_;
  detail::socket_ptr sock_;
  detail::address_storage addr_;
  std::error_code open_error_;  // from opening or binding the socket: start() does nothing
};

/// A connected TCP socket. Move-only; closing (or destroying) it closes the
/// socket. Reads, writes, split(), shutdown and close are basic_stream's:
/// awaited one at a time per direction; use split() to read and write from
/// two coroutines at once. This class adds connecting, endpoints and TCP's
/// socket options.
class tcp_stream : public basic_stream {
 public:
  tcp_stream() noexcept = default;
  explicit tcp_stream(detail::socket_ptr s) noexcept : basic_stream(std::move(s)) {}

  /// Connects to `to`. Resumes on a worker with the stream, or the error
  /// (std::errc::connection_refused for a closed port, ...). Wrap it in
  /// with_timeout or with_stop to bound or cancel it.
  static connect_awaiter connect(const endpoint& to) noexcept {
    return connect_awaiter(to);
  }

  /// Connects to `to` from the local address `from` (in `to`'s family): the
  /// socket is bound to `from` before it connects. Port 0 lets the system
  /// pick the port at connect time from the whole 4-tuple where it can, so
  /// a client can exceed one address's port range by spreading connections
  /// over several source addresses (docs/backends.md, "Many connections
  /// from one client"). Resumes on a worker with the stream or the error; a
  /// failed bind does not suspend and sends nothing
  /// (std::errc::address_not_available, address_in_use,
  /// address_family_not_supported).
  static connect_awaiter connect(const endpoint& to, const endpoint& from) noexcept {
    return connect_awaiter(to, &from);
  }

  /// Connects to `host` (a name or a numeric address) on `port`: resolves
  /// it (see net::resolve; a numeric host skips the blocking pool), then
  /// races connects to its addresses as connect(span) does. Resumes on a
  /// worker with the first stream connected, or the error: a resolve_errc,
  /// or the first attempt's error when every attempt failed. Bound it with
  /// with_timeout, cancel it with with_stop: every attempt still running is
  /// cancelled and reaped before the awaiter resumes.
  [[nodiscard]] static detail::task_operation<result<tcp_stream>> connect(std::string_view host,
                                                                          std::uint16_t port);

  /// Connects to one of `to` (RFC 8305 in outline): IPv6 and IPv4 addresses
  /// alternate, starting with the family of `to[0]`; each attempt gets 250
  /// ms before the next one starts beside it (at once if it fails first);
  /// the first connection made wins, and the attempts still running are
  /// cancelled and reaped before the awaiter resumes. `to` is copied. An
  /// empty `to` gives resolve_errc::no_address.
  [[nodiscard]] static detail::task_operation<result<tcp_stream>> connect(std::span<const endpoint> to);

  /// Disables (true) or enables Nagle's algorithm.
  result<void> set_nodelay(bool on) noexcept;
  /// Corks (true) or uncorks the stream, as nginx's `tcp_nopush` does: while
  /// corked the OS sends only full segments, so a response's head and the
  /// file that send_file pushes after it leave together; uncorking sends
  /// what is left at once. On loopback it also makes the kernel deliver the
  /// data in the sender's call instead of in the reader's acknowledgements
  /// (docs/performance.md, the 1 MiB file case). Linux TCP_CORK;
  /// std::errc::not_supported on Windows (TransmitFile needs no cork).
  result<void> set_cork(bool on) noexcept;
  result<endpoint> local_endpoint() const noexcept;
  result<endpoint> peer_endpoint() const noexcept;

  // ---- Socket options (types in corio/net/socket_options.hpp) ----
  // Each completes at once, on the calling thread; errc::not_open on a
  // closed stream, std::errc::not_supported where the OS lacks the option.

  /// Turns TCP keep-alive on (with the given timings) or off.
  result<void> set_keepalive(const keepalive_options& options) noexcept;
  /// SO_LINGER: with a timeout, closing waits up to it for unsent data to
  /// go out (a timeout of 0 makes close() send a reset and drop unsent
  /// data); std::nullopt (the default) closes in the background.
  result<void> set_linger(std::optional<std::chrono::seconds> timeout) noexcept;
  /// Closes the stream with a reset (RST) instead of an orderly close: the
  /// peer's reads and writes fail with connection_reset; unsent data is
  /// dropped. Like close(), not while an operation is in flight. The stream
  /// is closed even when setting the linger option failed (the error is
  /// returned and the close was then orderly).
  result<void> close_with_reset() noexcept;
  /// SO_SNDBUF / SO_RCVBUF. The OS may round the size (Linux doubles it,
  /// for its own bookkeeping, in what the getters report).
  result<void> set_send_buffer_size(std::size_t bytes) noexcept;
  result<void> set_receive_buffer_size(std::size_t bytes) noexcept;
  result<std::size_t> send_buffer_size() const noexcept;
  result<std::size_t> receive_buffer_size() const noexcept;

  /// Takes ownership of a connected TCP socket made elsewhere (another
  /// library, an inherited descriptor). On POSIX it is made non-blocking;
  /// on Windows it must be an overlapped socket (socket() and WSASocket
  /// with WSA_FLAG_OVERLAPPED make those) not yet tied to another
  /// completion port. Fails, leaving `h` open and the caller's, with
  /// std::errc::not_a_socket, or std::errc::invalid_argument for a socket
  /// that is not a stream socket.
  static result<tcp_stream> adopt(detail::native_socket h) noexcept;
  /// Gives up the socket without closing it and returns it (invalid_socket
  /// for a closed stream); the stream is closed afterwards. Refused
  /// (invalid_socket, the stream stays open) while an operation is in
  /// flight, and on io_uring once read_pooled has armed its receive, which
  /// stays in the kernel between reads until the stream is closed (it
  /// would read on from the released socket). On Windows the socket stays tied to this
  /// runtime's completion port (Windows cannot undo that): use it with
  /// blocking calls, or adopt it into this same runtime again.
  detail::native_socket release() noexcept;
};

}  // namespace corio::net
