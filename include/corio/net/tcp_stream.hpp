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
#include "corio/net/endpoint.hpp"
#include "corio/net/socket_options.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace corio {

/// One buffer of a gather write (tcp_stream::write_all over several
/// buffers): a pointer and a size, with the layout of struct iovec on Linux.
using io_slice = detail::io_vec;

/// The slice over `bytes`.
template <detail::writable_bytes R>
io_slice as_slice(const R& bytes) noexcept {
  return {std::ranges::data(bytes), std::ranges::size(bytes)};
}

}  // namespace corio

namespace corio::net {

class tcp_stream;

/// The reading side of a stream, for full-duplex use from a second
/// coroutine. Refers to its stream, which must outlive it.
class read_half {
 public:
  /// Reads up to `buf.size()` bytes. Resumes on a worker with the count
  /// read; 0 from a non-empty buffer means the peer closed its side
  /// (orderly EOF). An empty buffer completes at once with 0 and reaches no
  /// kernel. A read started while another read on the same stream is in
  /// flight fails at once with errc::concurrent_operation.
  template <detail::byte_range R>
  auto read(R&& buf) noexcept {
    return detail::transfer_awaiter<false>(sock_, std::ranges::data(buf), std::ranges::size(buf));
  }
  /// Waits until data (or the end of the stream, or an error) can be read,
  /// without a buffer: an idle connection pins no buffer memory while it
  /// waits (io_uring poll, epoll readiness, IOCP's zero-byte WSARecv). A
  /// read started after it finds the data at once. Counts as a read for
  /// errc::concurrent_operation.
  auto wait_readable() noexcept { return detail::readable_awaiter(sock_); }

  /// Reads exactly `buf.size()` bytes, one read at a time; errc::unexpected_eof
  /// if the stream ends first. Allocates nothing.
  template <detail::byte_range R>
  auto read_exact(R&& buf) noexcept {
    return detail::transfer_all_awaiter<false>(
        sock_, {}, reinterpret_cast<std::byte*>(std::ranges::data(buf)), std::ranges::size(buf));
  }

 private:
  friend class tcp_stream;
  explicit read_half(detail::socket_core* s) noexcept : sock_(s) {}
  detail::socket_core* sock_;
};

/// The writing side of a stream. Refers to its stream, which must outlive it.
class write_half {
 public:
  /// Writes some of `buf` (at least one byte unless it is empty: then 0 at
  /// once). Resumes on a worker with the count written. A write started
  /// while another write on the same stream is in flight fails at once with
  /// errc::concurrent_operation. A string literal is refused at compile
  /// time (its NUL would be sent): pass a std::string_view.
  template <detail::writable_bytes R>
  auto write(const R& buf) noexcept {
    return detail::transfer_awaiter<true>(sock_, std::ranges::data(buf), std::ranges::size(buf));
  }
  /// Writes all of `buf`, in order, one write at a time. Allocates nothing.
  template <detail::writable_bytes R>
  auto write_all(const R& buf) noexcept {
    return detail::transfer_all_awaiter<true>(
        sock_, {}, reinterpret_cast<const std::byte*>(std::ranges::data(buf)),
        std::ranges::size(buf));
  }
  /// Writes all of several buffers, in order, with one gather write per step
  /// (sendmsg on Linux, one WSASend with several WSABUFs on Windows), up to
  /// 64 slices at a time. The slices are advanced in place as bytes go out:
  /// after an error, what is left in them is what was not sent. Allocates
  /// nothing.
  auto write_all(std::span<io_slice> slices) noexcept {
    return detail::gather_awaiter(sock_, {slices.data(), slices.size()});
  }
  /// Shuts down the sending direction: the peer reads its orderly end once
  /// what was written has arrived; reading (through the read half) goes on.
  /// Completes at once. errc::not_open on a closed stream.
  result<void> shutdown() noexcept;

  /// The stream's shared state, for operations that write through it
  /// (fs::send_file); null when the stream is closed.
  detail::socket_core* core() const noexcept { return sock_; }

 private:
  friend class tcp_stream;
  explicit write_half(detail::socket_core* s) noexcept : sock_(s) {}
  detail::socket_core* sock_;
};

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

/// The two halves of one stream.
struct stream_halves {
  read_half reader;
  write_half writer;
};

/// A connected TCP socket. Move-only; closing (or destroying) it closes the
/// socket. Reads and writes are awaited one at a time per direction; use
/// split() to read and write from two coroutines at once.
class tcp_stream {
 public:
  tcp_stream() noexcept = default;
  explicit tcp_stream(detail::socket_ptr s) noexcept : sock_(std::move(s)) {}

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

  /// See read_half::read. 0 bytes read means orderly EOF.
  template <detail::byte_range R>
  auto read(R&& buf) noexcept {
    return read_half(sock_.get()).read(buf);
  }
  template <detail::writable_bytes R>
  auto write(const R& buf) noexcept {
    return write_half(sock_.get()).write(buf);
  }
  template <detail::byte_range R>
  auto read_exact(R&& buf) noexcept {
    return read_half(sock_.get()).read_exact(buf);
  }
  auto wait_readable() noexcept { return read_half(sock_.get()).wait_readable(); }
  template <detail::writable_bytes R>
  auto write_all(const R& buf) noexcept {
    return write_half(sock_.get()).write_all(buf);
  }
  auto write_all(std::span<io_slice> slices) noexcept {
    return write_half(sock_.get()).write_all(slices);
  }

  /// Two halves that refer to this stream, for a reader coroutine and a
  /// writer coroutine. The stream must outlive both.
  stream_halves split() noexcept { return {read_half(sock_.get()), write_half(sock_.get())}; }

  enum class shutdown_how { send, receive, both };
  /// Shuts down one or both directions; the peer sees EOF after `send`.
  /// Succeeds after the peer reset the connection (there is nothing left to
  /// shut down); fails with errc::not_open on a closed stream.
  result<void> shutdown(shutdown_how how = shutdown_how::send) noexcept;
  /// Closes the socket. Operations still in flight on it (from a reader or
  /// writer coroutine on its halves) are cancelled and complete with
  /// std::errc::operation_canceled; the socket is released after the last of
  /// them. Any thread.
  void close() noexcept { sock_.reset(); }
  bool is_open() const noexcept { return sock_ != nullptr; }

  /// Disables (true) or enables Nagle's algorithm.
  result<void> set_nodelay(bool on) noexcept;
  result<endpoint> local_endpoint() const noexcept;
  result<endpoint> peer_endpoint() const noexcept;

  /// The socket's shared state, for layers that drive its reads and writes
  /// through their own operation (tls::stream); null when closed.
  detail::socket_core* core() const noexcept { return sock_.get(); }

  /// The OS handle, for options corio does not wrap.
  detail::native_socket native_handle() const noexcept {
    return sock_ ? sock_->handle : detail::invalid_socket;
  }

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
  /// for a closed stream); the stream is closed afterwards. Not while an
  /// operation is in flight. On Windows the socket stays tied to this
  /// runtime's completion port (Windows cannot undo that): use it with
  /// blocking calls, or adopt it into this same runtime again.
  detail::native_socket release() noexcept;

 private:
  detail::socket_ptr sock_;
};

}  // namespace corio::net
