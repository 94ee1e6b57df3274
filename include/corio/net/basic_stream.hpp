// corio/net/basic_stream.hpp: what a connected stream socket (TCP or
// Unix-domain) offers whatever its family: reads, writes, split halves,
// shutdown and close. net::tcp_stream and net::unix_stream derive from
// basic_stream.
#pragma once

#include <cstddef>
#include <span>

#include "corio/detail/socket.hpp"
#include "corio/io/pooled_buffer.hpp"
#include "corio/result.hpp"

namespace corio {

/// One buffer of a gather write (basic_stream::write_all over several
/// buffers): a pointer and a size, with the layout of struct iovec on Linux.
using io_slice = detail::io_vec;

/// The slice over `bytes`.
template <detail::writable_bytes R>
io_slice as_slice(const R& bytes) noexcept {
  return {std::ranges::data(bytes), std::ranges::size(bytes)};
}

}  // namespace corio

namespace corio::net {

class basic_stream;

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
  /// Reads what has arrived (up to 16 KiB) into a buffer the runtime
  /// picks, and resumes on a worker with it: a connection waiting for data
  /// holds no buffer (io_uring: a recv that takes a buffer from the
  /// worker's registered buffer ring only once data is there; epoll: a
  /// buffer from the worker's pool only for the recv that finds data;
  /// IOCP: the zero-byte WSARecv wait, then a receive into a pool buffer).
  /// An empty io::pooled_buffer means orderly EOF. Release the buffer
  /// (destroy it or reset()) when done with it: it goes back to be read
  /// into again. Counts as a read for errc::concurrent_operation; works
  /// with with_stop, with_timeout and when_any. Allocates nothing once warm.
  auto read_pooled() noexcept { return detail::pooled_read_awaiter(sock_); }

  /// Reads exactly `buf.size()` bytes, one read at a time; errc::unexpected_eof
  /// if the stream ends first. Allocates nothing.
  template <detail::byte_range R>
  auto read_exact(R&& buf) noexcept {
    return detail::transfer_all_awaiter<false>(
        sock_, {}, reinterpret_cast<std::byte*>(std::ranges::data(buf)), std::ranges::size(buf));
  }

 private:
  friend class basic_stream;
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
  friend class basic_stream;
  explicit write_half(detail::socket_core* s) noexcept : sock_(s) {}
  detail::socket_core* sock_;
};

/// The two halves of one stream.
struct stream_halves {
  read_half reader;
  write_half writer;
};

/// What every connected stream socket has, whatever its family: the socket,
/// reads and writes (one at a time per direction), split() for full duplex,
/// shutdown for a half close, and close. net::tcp_stream and
/// net::unix_stream derive from it and add how they connect and their own
/// options. Not made on its own (its constructors and destructor are
/// protected); a function can take a `basic_stream&` to serve both.
class basic_stream {
 public:
  /// See read_half::read. 0 bytes read means orderly EOF.
  template <detail::byte_range R>
  auto read(R&& buf) noexcept {
    return read_half(sock_.get()).read(buf);
  }
  /// See write_half::write.
  template <detail::writable_bytes R>
  auto write(const R& buf) noexcept {
    return write_half(sock_.get()).write(buf);
  }
  /// See read_half::read_exact.
  template <detail::byte_range R>
  auto read_exact(R&& buf) noexcept {
    return read_half(sock_.get()).read_exact(buf);
  }
  /// See read_half::wait_readable.
  auto wait_readable() noexcept { return read_half(sock_.get()).wait_readable(); }
  /// See read_half::read_pooled. An empty buffer means orderly EOF.
  auto read_pooled() noexcept { return read_half(sock_.get()).read_pooled(); }
  /// See write_half::write_all.
  template <detail::writable_bytes R>
  auto write_all(const R& buf) noexcept {
    return write_half(sock_.get()).write_all(buf);
  }
  /// See write_half::write_all over several buffers.
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

  /// The socket's shared state, for layers that drive its reads and writes
  /// through their own operation (tls::stream); null when closed.
  detail::socket_core* core() const noexcept { return sock_.get(); }

  /// The OS handle, for options corio does not wrap.
  detail::native_socket native_handle() const noexcept {
    return sock_ ? sock_->handle : detail::invalid_socket;
  }

 protected:
  basic_stream() noexcept = default;
  explicit basic_stream(detail::socket_ptr s) noexcept : sock_(std::move(s)) {}
  basic_stream(basic_stream&&) noexcept = default;
  basic_stream& operator=(basic_stream&&) noexcept = default;
  ~basic_stream() = default;

  detail::socket_ptr sock_;
};

}  // namespace corio::net
