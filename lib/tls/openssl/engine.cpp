// lib/tls/openssl/engine.cpp: the TLS engine on OpenSSL 3. The SSL object
// talks to a BIO pair of fixed size; corio receives straight into the
// pair's free room and sends straight from its pending bytes (BIO_nwrite0 /
// BIO_nread0), so ciphertext is never copied twice and nothing is
// allocated per record.
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <climits>
#include <mutex>
#include <string>

#include "corio/tls/detail/engine.hpp"
#include "tls/openssl/openssl.hpp"

namespace corio::tls::detail {

namespace {
// Each queue holds at least one whole record (16 KiB of data plus header,
// padding and tag), so a record never waits for room to be read in, and a
// 16 KiB write is one record and one send.
constexpr std::size_t input_queue_size = 33 * 1024;
constexpr std::size_t output_queue_size = 33 * 1024;
// Room for one more record of the largest size, whatever the cipher adds.
constexpr std::size_t whole_record =
    SSL3_RT_HEADER_LENGTH + SSL3_RT_MAX_PLAIN_LENGTH + SSL3_RT_MAX_ENCRYPTED_OVERHEAD;
// A full AES-GCM or ChaCha20 record (TLS 1.2: 8 bytes of nonce and 16 of
// tag; TLS 1.3: 1 of type and 16 of tag) leaves room for a second.
static_assert(output_queue_size >=
                  SSL3_RT_HEADER_LENGTH + SSL3_RT_MAX_PLAIN_LENGTH + 24 + whole_record,
              "two 16 KiB AEAD records fit the output queue");
}  // namespace

struct engine {
  std::mutex lock;  // every OpenSSL call on ssl and the BIO pair
  std::shared_ptr<context_impl> ctx;
  SSL* ssl = nullptr;
  BIO* net = nullptr;      // the pair's network side; the SSL owns the other
  std::string name;        // the client's server name (also the session key)
  std::string detail;      // the last failure, in OpenSSL's words
  bool input_eof = false;  // the transport ended

  ~engine() {
    SSL_free(ssl);
    BIO_free(net);
  }

  // Why the last call failed, as a corio error; keeps OpenSSL's text.
  std::error_code failure(bool handshaking) {
    const unsigned long err = ERR_peek_error();
    detail = take_error_text();
    const long verify = SSL_get_verify_result(ssl);
    if (handshaking && verify != X509_V_OK && ctx->verify && !ctx->server) {
      detail = X509_verify_cert_error_string(verify);
      if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        return make_error_code(errc::host_name_mismatch);
      }
      return make_error_code(errc::certificate_rejected);
    }
    if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      return make_error_code(errc::truncated);
    }
    return make_error_code(handshaking ? errc::handshake_failed : errc::protocol_error);
  }

  // The status after an OpenSSL call that returned `r` <= 0.
  step after(int r, bool handshaking) {
    switch (SSL_get_error(ssl, r)) {
      case SSL_ERROR_WANT_READ:
        if (input_eof) {
          detail = "the peer closed the connection without close_notify";
          return failed_step(make_error_code(errc::truncated));
        }
        return make_step(status::want_read);
      case SSL_ERROR_WANT_WRITE: return make_step(status::want_write);
      case SSL_ERROR_ZERO_RETURN: return make_step(status::closed);
      default: return failed_step(failure(handshaking));
    }
  }
};

void engine_deleter::operator()(engine* e) const noexcept { delete e; }

result<engine_ptr> make_engine(const std::shared_ptr<context_impl>& ctx, bool server,
                               std::string_view server_name) noexcept {
  if (!ctx) return fail(make_error_code(corio::errc::not_open));
  engine_ptr e;
  try {
    e.reset(new engine);
    e->name = server_name;
  } catch (...) {
    return fail(std::errc::not_enough_memory);
  }
  e->ctx = ctx;
  e->ssl = SSL_new(ctx->ctx);
  BIO* inner = nullptr;
  if (!e->ssl || BIO_new_bio_pair(&inner, output_queue_size, &e->net, input_queue_size) != 1) {
    ERR_clear_error();
    return fail(std::errc::not_enough_memory);
  }
  SSL_set_bio(e->ssl, inner, inner);
  SSL_set_ex_data(e->ssl, engine_index(), e.get());
  if (server) {
    SSL_set_accept_state(e->ssl);
    return e;
  }
  SSL_set_connect_state(e->ssl);
  SSL_set_app_data(e->ssl, const_cast<char*>(e->name.c_str()));  // the session key
  if (!e->name.empty()) {
    const bool is_ip = e->name.find(':') != std::string::npos ||
                       e->name.find_first_not_of("0123456789.") == std::string::npos;
    bool ok = true;
    if (!is_ip) ok = SSL_set_tlsext_host_name(e->ssl, e->name.c_str()) == 1;  // SNI: names only
    if (ctx->verify) {
      ok = ok && (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(e->ssl), e->name.c_str())
                        : SSL_set1_host(e->ssl, e->name.c_str())) == 1;
    }
    if (!ok) {
      ERR_clear_error();
      return fail(std::errc::invalid_argument);
    }
    if (SSL_SESSION* saved = ctx->resume ? ctx->find_session(e->name) : nullptr) {
      SSL_set_session(e->ssl, saved);
      SSL_SESSION_free(saved);
    }
  }
  return e;
}

step handshake(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  const int r = SSL_do_handshake(e.ssl);
  if (r == 1) return make_step(status::ok);
  return e.after(r, true);
}

step read(engine& e, void* data, std::size_t size) noexcept {
  std::lock_guard lock(e.lock);
  std::size_t n = 0;
  const int r = SSL_read_ex(e.ssl, data, size, &n);
  if (r == 1) return make_step(status::ok, n);
  return e.after(r, !SSL_is_init_finished(e.ssl));
}

step write(engine& e, const void* data, std::size_t size) noexcept {
  std::lock_guard lock(e.lock);
  if (SSL_get_shutdown(e.ssl) & SSL_SENT_SHUTDOWN) {
    return failed_step(make_error_code(errc::closed));
  }
  // SSL_MODE_ENABLE_PARTIAL_WRITE makes each SSL_write one record; more
  // records go into the output queue while it has room for a whole one, so
  // that one send carries them all (a 1 MiB write: 32 sends, not 64). Only
  // whole records: OpenSSL never holds half a record between two calls here.
  BIO* const queue = SSL_get_wbio(e.ssl);
  const auto* const bytes = static_cast<const std::byte*>(data);
  std::size_t total = 0;
  for (;;) {
    std::size_t n = 0;
    const int r = SSL_write_ex(e.ssl, bytes + total, size - total, &n);
    if (r != 1) {
      step s = e.after(r, !SSL_is_init_finished(e.ssl));
      // The output queue is full: what was taken goes out first.
      if (s.st == status::want_write) return make_step(status::ok, total);
      if (s.st != status::failed) return failed_step(make_error_code(errc::protocol_error));
      return s;
    }
    total += n;
    if (total == size || BIO_ctrl_get_write_guarantee(queue) < whole_record) {
      return make_step(status::ok, total);
    }
  }
}

step shutdown(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  if (SSL_get_shutdown(e.ssl) & SSL_SENT_SHUTDOWN) return make_step(status::ok);
  const int r = SSL_shutdown(e.ssl);
  if (r >= 0) return make_step(status::ok);  // 0: sent, the peer's not yet seen; 1: both
  step s = e.after(r, false);
  if (s.st == status::want_read) return make_step(status::ok);
  return s;
}

std::span<const std::byte> output(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  char* p = nullptr;
  const auto n = BIO_nread0(e.net, &p);
  if (n <= 0) return {};
  return {reinterpret_cast<const std::byte*>(p), static_cast<std::size_t>(n)};
}

void output_sent(engine& e, std::size_t n) noexcept {
  std::lock_guard lock(e.lock);
  char* p = nullptr;
  BIO_nread(e.net, &p, static_cast<int>(n));
}

std::span<std::byte> input_space(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  char* p = nullptr;
  const auto n = BIO_nwrite0(e.net, &p);
  if (n <= 0) return {};
  return {reinterpret_cast<std::byte*>(p), static_cast<std::size_t>(n)};
}

void input_received(engine& e, std::size_t n) noexcept {
  std::lock_guard lock(e.lock);
  char* p = nullptr;
  BIO_nwrite(e.net, &p, static_cast<int>(n));
}

void input_ended(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  e.input_eof = true;
}

std::string_view alpn(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(e.ssl, &p, &len);
  return {reinterpret_cast<const char*>(p), len};
}

std::string_view server_name(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  if (!e.ctx->server) return e.name;
  const char* sni = SSL_get_servername(e.ssl, TLSEXT_NAMETYPE_host_name);
  return sni ? std::string_view(sni) : std::string_view();
}

bool resumed(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  return SSL_session_reused(e.ssl) == 1;
}

std::string_view failure_detail(engine& e) noexcept {
  std::lock_guard lock(e.lock);
  return e.detail;
}

void* native_handle(engine& e) noexcept { return e.ssl; }

}  // namespace corio::tls::detail
