// corio/net/tcp_stream.hpp: a connected TCP socket.
#pragma once

#include <cstddef>
#include <span>

#include "corio/detail/socket.hpp"
#include "corio/net/endpoint.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace corio::net {

class tcp_stream;

/// The reading side of a stream, for full-duplex use from a second
/// coroutine. Refers to its stream, which must outlive it.
class read_half {
 public:
  /// Reads up to `buf.size()` bytes. Resumes on a worker with the count
  /// read; 0 means the peer closed its side (orderly EOF). A read started
  /// while another read on the same stream is in flight fails at once with
  /// errc::concurrent_operation.
  template <detail::byte_range R>
  auto read(R&& buf) noexcept {
    return detail::transfer_awaiter<false>(sock_, std::ranges::data(buf), std::ranges::size(buf));
  }
  /// Reads exactly `buf.size()` bytes; errc::unexpected_eof if the stream
  /// ends first.
  task<result<void>> read_exact(std::span<std::byte> buf);

 private:
  friend class tcp_stream;
  explicit read_half(detail::socket_core* s) noexcept : sock_(s) {}
  detail::socket_core* sock_;
};

/// The writing side of a stream. Refers to its stream, which must outlive it.
class write_half {
 public:
  /// Writes some of `buf` (at least one byte unless it is empty). Resumes on
  /// a worker with the count written. A write started while another write on
  /// the same stream is in flight fails at once with
  /// errc::concurrent_operation.
  template <detail::byte_range R>
  auto write(const R& buf) noexcept {
    return detail::transfer_awaiter<true>(sock_, std::ranges::data(buf), std::ranges::size(buf));
  }
  /// Writes all of `buf`, in order, one write at a time.
  task<result<void>> write_all(std::span<const std::byte> buf);

 private:
  friend class tcp_stream;
  explicit write_half(detail::socket_core* s) noexcept : sock_(s) {}
  detail::socket_core* sock_;
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
  /// (std::errc::connection_refused for a closed port, ...).
  static task<result<tcp_stream>> connect(endpoint to);

  /// See read_half::read. 0 bytes read means orderly EOF.
  template <detail::byte_range R>
  auto read(R&& buf) noexcept {
    return read_half(sock_.get()).read(buf);
  }
  template <detail::byte_range R>
  auto write(const R& buf) noexcept {
    return write_half(sock_.get()).write(buf);
  }
  task<result<void>> read_exact(std::span<std::byte> buf) {
    return read_half(sock_.get()).read_exact(buf);
  }
  task<result<void>> write_all(std::span<const std::byte> buf) {
    return write_half(sock_.get()).write_all(buf);
  }

  /// Two halves that refer to this stream, for a reader coroutine and a
  /// writer coroutine. The stream must outlive both.
  stream_halves split() noexcept { return {read_half(sock_.get()), write_half(sock_.get())}; }

  enum class shutdown_how { send, receive, both };
  /// Shuts down one or both directions; the peer sees EOF after `send`.
  result<void> shutdown(shutdown_how how = shutdown_how::send) noexcept;
  /// Closes the socket now. Must not be called while an operation on it is
  /// in flight (shut it down instead, which completes them).
  void close() noexcept { sock_.reset(); }
  bool is_open() const noexcept { return sock_ != nullptr; }

  /// Disables (true) or enables Nagle's algorithm.
  result<void> set_nodelay(bool on) noexcept;
  result<endpoint> local_endpoint() const noexcept;
  result<endpoint> peer_endpoint() const noexcept;

  /// The OS handle, for options corio does not wrap.
  detail::native_socket native_handle() const noexcept {
    return sock_ ? sock_->handle : detail::invalid_socket;
  }

 private:
  detail::socket_ptr sock_;
};

}  // namespace corio::net
