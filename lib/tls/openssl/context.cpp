// lib/tls/openssl/context.cpp: tls::context on OpenSSL 3 (an SSL_CTX).
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "tls/openssl/openssl.hpp"

namespace corio::tls {

namespace detail {

namespace {

struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;

bio_ptr mem_bio(std::string_view pem) noexcept {
  return bio_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::unexpected<std::error_code> bad_credentials() noexcept {
  ERR_clear_error();
  return fail(make_error_code(errc::bad_credentials));
}

// Keeps every session OpenSSL hands us (TLS 1.3 sends them after the
// handshake, TLS 1.2 during it), by the server name the stream was made for.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* ctx = static_cast<context_impl*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
  const char* name = SSL_get_app_data(ssl) ? static_cast<const char*>(SSL_get_app_data(ssl)) : "";
  if (!ctx) return 0;
  ctx->save_session(name, session);
  return 1;  // we keep the reference
}

// The server's ALPN choice: its own first preference that the client offered.
int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
  auto* ctx = static_cast<context_impl*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
  if (!ctx || ctx->alpn.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ctx->alpn.data(),
                            static_cast<unsigned>(ctx->alpn.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

int context_index() noexcept {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int engine_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string take_error_text() {
  const unsigned long e = ERR_peek_error();
  std::string text;
  if (e) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

context_impl::~context_impl() {
  for (auto& [name, s] : sessions) SSL_SESSION_free(s);
  SSL_CTX_free(ctx);
}

void context_impl::save_session(std::string_view name, SSL_SESSION* s) noexcept {
  std::lock_guard lock(sessions_lock);
  for (auto& [n, old] : sessions) {
    if (n == name) {
      SSL_SESSION_free(old);
      old = s;
      return;
    }
  }
  try {
    sessions.emplace_back(std::string(name), s);
  } catch (...) {
    SSL_SESSION_free(s);  // out of memory: this session is not kept
  }
}

SSL_SESSION* context_impl::find_session(std::string_view name) noexcept {
  std::lock_guard lock(sessions_lock);
  for (auto& [n, s] : sessions) {
    if (n == name && SSL_SESSION_is_resumable(s)) {
      SSL_SESSION_up_ref(s);
      return s;
    }
  }
  return nullptr;
}

}  // namespace detail

result<context> context::create(role r) noexcept {
  std::shared_ptr<detail::context_impl> impl;
  try {
    impl = std::make_shared<detail::context_impl>();
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  impl->server = r == role::server;
  impl->ctx = SSL_CTX_new(TLS_method());
  if (!impl->ctx) {
    ERR_clear_error();
    return fail(make_error_code(errc::not_supported));
  }
  SSL_CTX* c = impl->ctx;
  SSL_CTX_set_ex_data(c, detail::context_index(), impl.get());
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // No renegotiation: a read never has to write, nor a write to read, so a
  // reader and a writer coroutine each drive one direction alone.
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Partial writes: a write encrypts what fits in the output queue, sends
  // it, and goes on. No SSL_MODE_RELEASE_BUFFERS: its buffers would be freed
  // and allocated again around every record.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (impl->server) {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_alpn_select_cb(c, detail::on_alpn, nullptr);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_set_default_verify_paths(c) != 1) ERR_clear_error();  // no system store: trust_* later
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, detail::on_new_session);
  }
  return context(std::move(impl));
}

result<void> context::use_certificate_chain_file(const char* path) noexcept {
  if (SSL_CTX_use_certificate_chain_file(impl_->ctx, path) != 1) return detail::bad_credentials();
  return {};
}

result<void> context::use_private_key_file(const char* path) noexcept {
  if (SSL_CTX_use_PrivateKey_file(impl_->ctx, path, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(impl_->ctx) != 1) {
    return detail::bad_credentials();
  }
  return {};
}

result<void> context::use_certificate_chain_pem(std::string_view pem) noexcept {
  auto bio = detail::mem_bio(pem);
  if (!bio) return detail::bad_credentials();
  X509* leaf = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!leaf) return detail::bad_credentials();
  const int used = SSL_CTX_use_certificate(impl_->ctx, leaf);
  X509_free(leaf);
  if (used != 1) return detail::bad_credentials();
  SSL_CTX_clear_chain_certs(impl_->ctx);
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(impl_->ctx, ca) != 1) {
      X509_free(ca);
      return detail::bad_credentials();
    }
  }
  ERR_clear_error();  // the end of the PEM text
  return {};
}

result<void> context::use_private_key_pem(std::string_view pem) noexcept {
  auto bio = detail::mem_bio(pem);
  if (!bio) return detail::bad_credentials();
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!key) return detail::bad_credentials();
  const int used = SSL_CTX_use_PrivateKey(impl_->ctx, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(impl_->ctx) != 1) return detail::bad_credentials();
  return {};
}

result<void> context::trust_system_roots() noexcept {
  if (SSL_CTX_set_default_verify_paths(impl_->ctx) != 1) return detail::bad_credentials();
  return {};
}

result<void> context::trust_file(const char* path) noexcept {
  if (SSL_CTX_load_verify_locations(impl_->ctx, path, nullptr) != 1) return detail::bad_credentials();
  return {};
}

result<void> context::trust_pem(std::string_view pem) noexcept {
  auto bio = detail::mem_bio(pem);
  if (!bio) return detail::bad_credentials();
  X509_STORE* store = SSL_CTX_get_cert_store(impl_->ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    const int ok = X509_STORE_add_cert(store, cert);
    X509_free(cert);
    if (ok != 1) return detail::bad_credentials();
    ++added;
  }
  ERR_clear_error();
  if (added == 0) return detail::bad_credentials();
  return {};
}

void context::set_verify_peer(bool on) noexcept {
  impl_->verify = on;
  SSL_CTX_set_verify(impl_->ctx, on ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
}

void context::set_session_resumption(bool on) noexcept { impl_->resume = on; }

result<void> context::set_alpn(std::span<const std::string_view> protocols) noexcept {
  std::vector<unsigned char> wire;
  try {
    for (auto p : protocols) {
      if (p.empty() || p.size() > 255) return fail(std::errc::invalid_argument);
      wire.push_back(static_cast<unsigned char>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  // SSL_CTX_set_alpn_protos returns 0 on success.
  if (!impl_->server &&
      SSL_CTX_set_alpn_protos(impl_->ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0) {
    return fail(std::errc::invalid_argument);
  }
  impl_->alpn = std::move(wire);
  return {};
}

void* context::native_handle() const noexcept { return impl_ ? impl_->ctx : nullptr; }

}  // namespace corio::tls
