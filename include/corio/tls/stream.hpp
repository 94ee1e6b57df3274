// corio/tls/stream.hpp: TLS over a corio stream, with the same read / write /
// write_all shape as net::tcp_stream.
#pragma once

#include <atomic>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <string_view>
#include <utility>

#include "corio/detail/io.hpp"
#include "corio/detail/operation.hpp"
#include "corio/detail/socket.hpp"
#include "corio/net/tcp_stream.hpp"
#include "corio/result.hpp"
#include "corio/tls/context.hpp"
#include "corio/tls/detail/engine.hpp"
#include "corio/tls/error.hpp"

namespace corio::tls {

/// What tls::stream runs over: a corio stream backed by a socket whose
/// reads and writes it can start itself (net::tcp_stream). Each TLS call is
/// one corio operation however many socket reads and writes it takes, so
/// with_timeout and with_stop cancel whichever of them is in flight.
template <class T>
concept transport = std::movable<T> && requires(const T& t) {
  { t.core() } noexcept -> std::same_as<corio::detail::socket_core*>;
};

namespace detail {

enum class op_kind { handshake, read, read_exact, write, write_all, shutdown };

/// One TLS call as one operation awaiter: it alternates the engine's steps
/// with socket reads and writes on a single `operation`, the one with_stop
/// and with_timeout see, until the call is done. It holds the socket's
/// reading direction (reads, handshake) and writing direction (writes,
/// shutdown, handshake) for its whole duration, like a tcp_stream read or
/// write (lesson 1). A read never sends: what the engine queues while
/// reading (an alert, a key update reply) goes out with the next write.
template <op_kind K>
class tls_awaiter : public corio::detail::op_awaiter_base<tls_awaiter<K>> {
  static constexpr bool reads = K == op_kind::handshake || K == op_kind::read ||
                                K == op_kind::read_exact;
  static constexpr bool writes = K == op_kind::handshake || K == op_kind::write ||
                                 K == op_kind::write_all || K == op_kind::shutdown;
  using buffer_ptr = std::conditional_t<K == op_kind::write || K == op_kind::write_all,
                                        const std::byte*, std::byte*>;

 public:
  tls_awaiter(engine* e, corio::detail::socket_core* s, buffer_ptr data, std::size_t size) noexcept
      : e_(e), sock_(s), data_(data), size_(size) {}

  corio::detail::operation& op() noexcept { return op_; }

  bool start() noexcept {
    if (!e_) {
      ec_ = make_error_code(corio::errc::not_open);
      return false;
    }
    if constexpr (reads) {
      read_taken_ = true;
      if (!read_claim_.take(sock_)) return false;
    }
    if constexpr (writes) {
      write_taken_ = true;
      if (!write_claim_.take(sock_)) return false;
    }
    final_ = op_.complete;
    final_context_ = op_.context;
    op_.complete = step_done;
    op_.context = this;
    if (run()) return true;
    op_.complete = final_;
    op_.context = final_context_;
    return false;
  }

  auto await_resume() noexcept {
    std::error_code refused;
    if (read_taken_) refused = read_claim_.finish(sock_);
    if (write_taken_) {
      if (auto w = write_claim_.finish(sock_); !refused) refused = w;
    }
    using value = std::conditional_t<K == op_kind::read || K == op_kind::write, std::size_t, void>;
    if (refused) return result<value>(fail(refused));
    if (ec_) return result<value>(fail(ec_));
    if constexpr (std::is_void_v<value>) {
      return result<value>();
    } else {
      return result<value>(done_);
    }
  }

 private:
  // Runs engine steps and finished socket steps until a socket step is in
  // flight (true) or the call is over (false, with ec_/done_ set).
  bool run() noexcept {
    for (;;) {
      // TRICKY: a cancel that arrives between two socket steps finds none in
      // flight; the flag it leaves ends the call here instead of being lost.
      if (std::atomic_ref<std::uint8_t>(op_.cancel_requested).load(std::memory_order_acquire)) {
        ec_ = std::make_error_code(std::errc::operation_canceled);
        return false;
      }
      if constexpr (writes) {
        // Whatever the engine queued goes out before the engine is asked
        // for more, and before the call ends (an alert explains a failure).
        if (auto out = output(*e_); !out.empty()) {
          sending_ = true;
          if (start_transfer(corio::detail::op_code::send, out.data(), out.size())) {
            return true;
          }
          if (!socket_step_done()) return false;
          continue;
        }
      }
      if (!want_input_) {
        if (over_) return false;
        // Progress, the end, or a wish for input: flush what the step queued
        // (the top of the loop) before ending or receiving.
        want_input_ = advance();
        continue;
      }
      // The engine wants ciphertext from the peer.
      want_input_ = false;
      auto room = input_space(*e_);
      if (room.empty()) {
        ec_ = make_error_code(errc::protocol_error);
        return false;
      }
      sending_ = false;
      if (start_transfer(corio::detail::op_code::recv, room.data(), room.size())) {
        return true;
      }
      if (!socket_step_done()) return false;
    }
  }

  // Starts one socket step: a send or a receive of ciphertext.
  bool start_transfer(corio::detail::op_code code, const void* data, std::size_t size) noexcept {
    op_.code = code;
    op_.sock = sock_;
    op_.args.buf = {const_cast<void*>(data), size};
    // A cancel that lands after the check at the top of run() but before
    // the call reaches the kernel is taken up by the guard (IOCP).
    guard_.begin();
    if (corio::detail::start(op_)) {
      guard_.end_in_flight(op_);
      return true;
    }
    guard_.end();
    return false;
  }

  // One engine step for this kind of call. True when it wants input.
  bool advance() noexcept {
    step s;
    if constexpr (K == op_kind::handshake) {
      s = handshake(*e_);
      if (s.st == status::ok) over_ = true;
      if (s.st == status::want_write) return false;  // flushed at the top of run()
    } else if constexpr (K == op_kind::read || K == op_kind::read_exact) {
      if (done_ == size_ && (K == op_kind::read_exact || size_ == 0)) {
        over_ = true;
        return false;
      }
      s = read(*e_, data_ + done_, size_ - done_);
      if (s.st == status::ok) {
        done_ += s.n;
        if (K == op_kind::read || done_ == size_) over_ = true;
      } else if (s.st == status::closed) {
        if (K == op_kind::read_exact) ec_ = make_error_code(corio::errc::unexpected_eof);
        over_ = true;
      } else if (s.st == status::want_write) {
        // A reply the engine must send while reading (a TLS 1.3 key update
        // with a full output queue): a read never sends, so it cannot go on.
        ec_ = make_error_code(errc::protocol_error);
        over_ = true;
      }
    } else if constexpr (K == op_kind::write || K == op_kind::write_all) {
      // Reached only with the output queue empty: everything encrypted so
      // far has been sent.
      if (done_ == size_ || (K == op_kind::write && done_ > 0)) {
        over_ = true;
        return false;
      }
      s = write(*e_, data_ + done_, size_ - done_);
      if (s.st == status::ok) {
        if (s.n == 0 && output(*e_).empty()) {
          ec_ = make_error_code(errc::protocol_error);  // no room and nothing to send
          over_ = true;
        }
        done_ += s.n;
      }
    } else {
      s = shutdown(*e_);
      if (s.st == status::ok) over_ = true;
      if (s.st == status::want_write) return false;
    }
    if (s.st == status::failed) {
      ec_ = s.ec;
      over_ = true;
    }
    return s.st == status::want_read;
  }

  // Accounts a finished socket step; false when it ended the call.
  bool socket_step_done() noexcept {
    const std::int64_t res = op_.res;
    // An error the engine reported first (flushing its alert failed) stays
    // the one the caller sees.
    if (res < 0) {
      if (!ec_) ec_ = corio::detail::error_from_result(res);
      return false;
    }
    if (sending_) {
      if (res == 0) {
        if (!ec_) ec_ = std::make_error_code(std::errc::broken_pipe);
        return false;
      }
      output_sent(*e_, static_cast<std::size_t>(res));
    } else if (res == 0) {
      input_ended(*e_);  // the engine reports truncation unless close_notify came
    } else {
      input_received(*e_, static_cast<std::size_t>(res));
    }
    return true;
  }

  static void step_done(corio::detail::operation* o) noexcept {
    auto* self = static_cast<tls_awaiter*>(o->context);
    self->guard_.wait_started();
    if (self->socket_step_done() && self->run()) return;  // the next step is in flight
    o->complete = self->final_;
    o->context = self->final_context_;
    o->complete(o);
  }

  corio::detail::operation op_;
  engine* e_;
  corio::detail::socket_core* sock_;
  corio::detail::half_claim<false> read_claim_;
  corio::detail::half_claim<true> write_claim_;
  buffer_ptr data_;
  std::size_t size_;
  std::size_t done_ = 0;   // bytes read into / written from data_
  std::error_code ec_;
  void (*final_)(corio::detail::operation*) noexcept = nullptr;
  void* final_context_ = nullptr;
  bool sending_ = false;   // the socket step in flight is a send
  bool over_ = false;      // the engine has nothing more to do for this call
  bool want_input_ = false;  // the engine's last step asked for ciphertext
  bool read_taken_ = false, write_taken_ = false;
  [[no_unique_address]] corio::detail::step_start_guard guard_;
};

template <class R>
std::byte* bytes_of(R& r) noexcept {
  return reinterpret_cast<std::byte*>(std::ranges::data(r));
}
template <class R>
const std::byte* cbytes_of(const R& r) noexcept {
  return reinterpret_cast<const std::byte*>(std::ranges::data(r));
}

}  // namespace detail

template <transport Next>
class stream;

/// The reading side of a tls::stream, for a reader coroutine while another
/// writes. Refers to its stream, which must outlive it.
class read_half {
 public:
  /// See stream::read.
  template <corio::detail::byte_range R>
  auto read(R&& buf) noexcept {
    return detail::tls_awaiter<detail::op_kind::read>(e_, sock_, detail::bytes_of(buf),
                                                      std::ranges::size(buf));
  }
  /// See stream::read_exact.
  template <corio::detail::byte_range R>
  auto read_exact(R&& buf) noexcept {
    return detail::tls_awaiter<detail::op_kind::read_exact>(e_, sock_, detail::bytes_of(buf),
                                                            std::ranges::size(buf));
  }

 private:
  template <transport>
  friend class stream;
  read_half(detail::engine* e, corio::detail::socket_core* s) noexcept : e_(e), sock_(s) {}
  detail::engine* e_;
  corio::detail::socket_core* sock_;
};

/// The writing side of a tls::stream. Refers to its stream, which must
/// outlive it.
class write_half {
 public:
  /// See stream::write.
  template <corio::detail::byte_range R>
  auto write(const R& buf) noexcept {
    return detail::tls_awaiter<detail::op_kind::write>(e_, sock_, detail::cbytes_of(buf),
                                                       std::ranges::size(buf));
  }
  /// See stream::write_all.
  template <corio::detail::byte_range R>
  auto write_all(const R& buf) noexcept {
    return detail::tls_awaiter<detail::op_kind::write_all>(e_, sock_, detail::cbytes_of(buf),
                                                           std::ranges::size(buf));
  }
  /// See stream::shutdown.
  auto shutdown() noexcept {
    return detail::tls_awaiter<detail::op_kind::shutdown>(e_, sock_, nullptr, 0);
  }

 private:
  template <transport>
  friend class stream;
  write_half(detail::engine* e, corio::detail::socket_core* s) noexcept : e_(e), sock_(s) {}
  detail::engine* e_;
  corio::detail::socket_core* sock_;
};

/// The two halves of one TLS stream.
struct stream_halves {
  read_half reader;
  write_half writer;
};

/// A TLS connection over `Next` (net::tcp_stream). Move-only. Make it with
/// client() or server(), await handshake(), then read and write exactly as
/// on a tcp_stream: each call is one operation awaiter, so with_timeout and
/// with_stop bound and cancel it, and it resumes on a worker. One read and
/// one write may be in flight at once (split() for two coroutines); the TLS
/// state they share is locked only around the library's calls, never across
/// a suspension. Steady-state reads and writes allocate nothing.
///
/// A read of 0 bytes means the peer sent close_notify (orderly end); EOF
/// without it is errc::truncated. A cancelled or failed handshake or write
/// leaves the stream unusable (a record may be half sent): close it. A
/// cancelled read can be retried.
template <transport Next = net::tcp_stream>
class stream {
 public:
  stream() noexcept = default;

  /// A client over the connected `next`. `server_name` is sent as SNI (for
  /// a DNS name) and the server's certificate must be valid for it (a DNS
  /// name or an IP address) unless the context's verification is off. A
  /// session saved from an earlier connection to the same name is offered
  /// for resumption.
  static result<stream> client(const context& ctx, Next next,
                               std::string_view server_name) noexcept {
    auto e = detail::make_engine(ctx.impl(), false, server_name);
    if (!e) return fail(e.error());
    return stream(std::move(*e), std::move(next));
  }
  /// A server over the accepted `next`; the context must hold a certificate
  /// and its key.
  static result<stream> server(const context& ctx, Next next) noexcept {
    auto e = detail::make_engine(ctx.impl(), true, {});
    if (!e) return fail(e.error());
    return stream(std::move(*e), std::move(next));
  }

  /// Runs the handshake. Resumes on a worker with success, or the error:
  /// errc::certificate_rejected, errc::host_name_mismatch,
  /// errc::handshake_failed, errc::truncated (the peer hung up), a socket
  /// error, operation_canceled / timed_out under with_stop / with_timeout.
  auto handshake() noexcept {
    return detail::tls_awaiter<detail::op_kind::handshake>(engine_.get(), next_.core(), nullptr, 0);
  }

  /// Reads up to `buf.size()` bytes of plaintext. Resumes on a worker with
  /// the count, 0 after the peer's close_notify, or the error
  /// (errc::truncated for EOF without close_notify). A read started while
  /// another is in flight fails with corio::errc::concurrent_operation.
  template <corio::detail::byte_range R>
  auto read(R&& buf) noexcept {
    return halves().reader.read(buf);
  }
  /// Reads exactly `buf.size()` bytes; corio::errc::unexpected_eof if the
  /// peer closes first.
  template <corio::detail::byte_range R>
  auto read_exact(R&& buf) noexcept {
    return halves().reader.read_exact(buf);
  }
  /// Encrypts and sends some of `buf` (at least one byte unless it is
  /// empty). Resumes on a worker with the count once it is all sent.
  template <corio::detail::byte_range R>
  auto write(const R& buf) noexcept {
    return halves().writer.write(buf);
  }
  /// Encrypts and sends all of `buf`.
  template <corio::detail::byte_range R>
  auto write_all(const R& buf) noexcept {
    return halves().writer.write_all(buf);
  }
  /// Sends close_notify (the peer's reads then end with 0). Does not wait
  /// for the peer's own close_notify and does not close the socket; a
  /// reader on the other half may go on reading until it arrives.
  auto shutdown() noexcept { return halves().writer.shutdown(); }

  /// Two halves that refer to this stream, for a reader coroutine and a
  /// writer coroutine. The stream must outlive both.
  stream_halves split() noexcept { return halves(); }

  /// The protocol agreed by ALPN, empty if none (after the handshake).
  std::string_view alpn() const noexcept { return engine_ ? detail::alpn(*engine_) : ""; }
  /// The name the client asked for: on a server, the SNI it sent.
  std::string_view server_name() const noexcept {
    return engine_ ? detail::server_name(*engine_) : "";
  }
  /// True when the handshake resumed an earlier session.
  bool resumed() const noexcept { return engine_ && detail::resumed(*engine_); }
  /// The TLS library's words for the last failure, for logs.
  std::string_view failure_detail() const noexcept {
    return engine_ ? detail::failure_detail(*engine_) : "";
  }
  /// The platform's object (OpenSSL: SSL*; SChannel: the CtxtHandle*, null
  /// before the handshake starts).
  void* native_handle() const noexcept { return engine_ ? detail::native_handle(*engine_) : nullptr; }

  /// The stream below (to set socket options, or to shut it down).
  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }
  bool is_open() const noexcept { return engine_ != nullptr && next_.core() != nullptr; }

 private:
  stream(detail::engine_ptr e, Next next) noexcept : engine_(std::move(e)), next_(std::move(next)) {}
  stream_halves halves() noexcept {
    return {read_half(engine_.get(), next_.core()), write_half(engine_.get(), next_.core())};
  }

  detail::engine_ptr engine_;
  Next next_;
};

}  // namespace corio::tls
