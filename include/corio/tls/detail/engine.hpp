// corio/tls/detail/engine.hpp: the contract between tls::stream (which does
// the I/O through corio's operations) and the platform's TLS library (which
// only turns bytes into bytes). Implemented once per platform:
// lib/tls/openssl/engine.cpp, lib/tls/schannel/engine.cpp.
//
// An engine holds the TLS state of one connection and two byte queues of a
// fixed size: ciphertext received and not yet decrypted (input), and
// ciphertext produced and not yet sent (output). The stream receives
// straight into input_space() and sends straight from output(), so records
// are never copied between corio's buffers and the library's, and nothing
// is allocated per record.
//
// Every function may be called from any thread; each takes the engine's
// lock for its duration (a reader and a writer coroutine on two workers
// share one engine). No function blocks or suspends.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "corio/result.hpp"

namespace corio::tls::detail {

struct context_impl;
struct engine;

/// What a TLS call needs next.
enum class status : unsigned char {
  ok,         // done: `n` says how much
  want_read,  // more ciphertext from the peer first (after sending output())
  want_write, // the output queue is full: send output(), then call again
  closed,     // read: the peer's close_notify arrived (orderly end)
  failed,     // `ec` says why; send output() first (it may hold an alert)
};

struct step {
  status st = status::ok;
  std::size_t n = 0;
  std::error_code ec;
};

inline step make_step(status st, std::size_t n = 0) noexcept {
  step s;
  s.st = st;
  s.n = n;
  return s;
}
inline step failed_step(std::error_code ec) noexcept {
  step s;
  s.st = status::failed;
  s.ec = ec;
  return s;
}

struct engine_deleter {
  void operator()(engine* e) const noexcept;
};
using engine_ptr = std::unique_ptr<engine, engine_deleter>;

/// A client engine (`server_name`: sent as SNI when it is a DNS name, and
/// checked against the certificate unless verification is off; a saved
/// session for that name is offered) or a server engine.
result<engine_ptr> make_engine(const std::shared_ptr<context_impl>& ctx, bool server,
                               std::string_view server_name) noexcept;

/// Advances the handshake: ok when it is complete.
step handshake(engine& e) noexcept;
/// Decrypts up to `size` bytes into `data`.
step read(engine& e, void* data, std::size_t size) noexcept;
/// Encrypts up to `size` bytes of `data` into the output queue: ok with
/// n > 0, or ok with n == 0 when the output queue is full (send it first).
step write(engine& e, const void* data, std::size_t size) noexcept;
/// Queues close_notify (once).
step shutdown(engine& e) noexcept;

/// Ciphertext waiting to be sent (a contiguous part of it; empty if none).
/// It stays valid and unchanged until output_sent().
std::span<const std::byte> output(engine& e) noexcept;
void output_sent(engine& e, std::size_t n) noexcept;
/// Free room for ciphertext from the peer (contiguous; never empty while a
/// read wants input). Only the reading side writes there.
std::span<std::byte> input_space(engine& e) noexcept;
void input_received(engine& e, std::size_t n) noexcept;
/// The transport reached EOF: a read then fails with errc::truncated unless
/// close_notify came first.
void input_ended(engine& e) noexcept;

/// The protocol ALPN agreed on (empty if none).
std::string_view alpn(engine& e) noexcept;
/// The host name the client asked for (server side: its SNI).
std::string_view server_name(engine& e) noexcept;
/// True when the handshake resumed an earlier session.
bool resumed(engine& e) noexcept;
/// The library's own words for the last failure ("certificate has expired"),
/// for logs; empty if none.
std::string_view failure_detail(engine& e) noexcept;
/// The platform's object (OpenSSL: SSL*).
void* native_handle(engine& e) noexcept;

}  // namespace corio::tls::detail
