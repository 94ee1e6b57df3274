// lib/tls/openssl/openssl.hpp: the OpenSSL side's shared state.
#pragma once

#include <openssl/ssl.h>

#include <mutex>
#include <string>
#include <vector>

#include "corio/tls/context.hpp"

namespace corio::tls::detail {

struct context_impl {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool verify = true;
  bool resume = true;  // a client offers its saved sessions
  // ALPN in wire format (length-prefixed names): the client's offer, or the
  // server's preference list.
  std::vector<unsigned char> alpn;

  // The client's sessions, by server name: the latest one each name gave
  // (a handful of names per client in practice). Filled by OpenSSL's
  // new-session callback, which runs inside a read or the handshake.
  std::mutex sessions_lock;
  std::vector<std::pair<std::string, SSL_SESSION*>> sessions;

  ~context_impl();
  void save_session(std::string_view name, SSL_SESSION* s) noexcept;
  // A new reference to the session saved for `name`, or null.
  SSL_SESSION* find_session(std::string_view name) noexcept;
};

// The SSL_CTX ex-data slot that points back to the context_impl, and the
// SSL one that points back to the engine.
int context_index() noexcept;
int engine_index() noexcept;

// OpenSSL's error queue as text (the oldest error), cleared.
std::string take_error_text();

}  // namespace corio::tls::detail
