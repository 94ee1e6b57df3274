// raw_openssl_echo: a hand-written TLS echo server on OpenSSL 3 over raw
// epoll, the loop a competent engineer writes. Benchmark baseline for
// corio's tls::stream, not part of corio.
//
//   raw_openssl_echo --cert server.pem --key server.key [--port P] [--threads N]
//
// The structure of raw_epoll_echo (one epoll per thread, edge-triggered
// connections registered once, one shared plaintext buffer per thread),
// with each connection's SSL object on a BIO pair of the same size corio
// uses: the socket is read straight into the pair's free room and written
// straight from its pending bytes (BIO_nwrite0 / BIO_nread0), so ciphertext
// is not copied through a buffer of ours. Same OpenSSL settings as corio:
// TLS 1.2 minimum, no renegotiation, partial writes, the default session
// cache and tickets on the server.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "peer_common.hpp"

namespace {

constexpr std::size_t plain_size = 16 * 1024;
constexpr std::size_t queue_size = 33 * 1024;  // per direction, as in corio
constexpr int max_events = 256;

struct source {
  enum class kind : std::uint8_t { listener, wake, connection };
  kind what;
  int fd = -1;
};

struct connection : source {
  connection(int socket, SSL_CTX* ctx) : source{kind::connection, socket} {
    ssl = SSL_new(ctx);
    BIO* inner = nullptr;
    if (!ssl || BIO_new_bio_pair(&inner, queue_size, &net, queue_size) != 1) {
      peer::fail("SSL_new/BIO_new_bio_pair", ENOMEM);
    }
    SSL_set_bio(ssl, inner, inner);
    SSL_set_accept_state(ssl);
  }
  ~connection() {
    SSL_free(ssl);
    BIO_free(net);
  }
  SSL* ssl = nullptr;
  BIO* net = nullptr;
  std::string unencrypted;  // plaintext SSL_write could not take yet (output full)
  connection* prev = nullptr;
  connection* next = nullptr;
};

struct worker {
  int epoll_fd = -1;
  SSL_CTX* ctx = nullptr;
  source listener{source::kind::listener};
  source wake{source::kind::wake};
  connection* connections = nullptr;
  char buf[plain_size];
};

void add_to_epoll(worker& w, source& s, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &s;
  if (::epoll_ctl(w.epoll_fd, EPOLL_CTL_ADD, s.fd, &ev) != 0) peer::fail("epoll_ctl(ADD)", errno);
}

void close_connection(worker& w, connection* c) {
  if (c->prev != nullptr)
    c->prev->next = c->next;
  else
    w.connections = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  ::close(c->fd);
  delete c;
}

enum class io { done, blocked, failed };

// Sends the ciphertext queued in the pair until none is left or the socket
// is full.
io flush(connection& c) {
  for (;;) {
    char* p = nullptr;
    const auto n = BIO_nread0(c.net, &p);
    if (n <= 0) return io::done;
    const ssize_t sent = ::send(c.fd, p, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    if (sent > 0) {
      BIO_nread(c.net, &p, static_cast<int>(sent));
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return io::blocked;
    } else {
      return io::failed;
    }
  }
}

// Encrypts `len` bytes (partial writes: as much as the output queue holds),
// flushing between; what cannot go now waits in c.unencrypted.
io encrypt(connection& c, const char* data, std::size_t len) {
  while (len > 0) {
    std::size_t n = 0;
    if (SSL_write_ex(c.ssl, data, len, &n) == 1) {
      data += n;
      len -= n;
      continue;
    }
    if (SSL_get_error(c.ssl, 0) != SSL_ERROR_WANT_WRITE) return io::failed;
    const io f = flush(c);
    if (f == io::failed) return f;
    if (f == io::blocked) {
      c.unencrypted.append(data, len);
      return io::blocked;
    }
  }
  return io::done;
}

// Runs the connection as far as it goes without blocking. False: close it.
bool service(worker& w, connection& c) {
  // First what an earlier round could not send.
  if (flush(c) == io::failed) return false;
  if (!c.unencrypted.empty()) {
    std::string rest;
    rest.swap(c.unencrypted);
    const io e = encrypt(c, rest.data(), rest.size());
    if (e == io::failed) return false;
    if (e == io::blocked) return true;  // wait for EPOLLOUT
  }
  for (;;) {
    int r;
    std::size_t n = 0;
    if (!SSL_is_init_finished(c.ssl)) {
      r = SSL_do_handshake(c.ssl);
    } else {
      r = SSL_read_ex(c.ssl, w.buf, plain_size, &n);
      if (r == 1) {
        const io e = encrypt(c, w.buf, n);
        if (e == io::failed) return false;
        if (e == io::blocked) return true;
        continue;
      }
    }
    if (r == 1) continue;  // handshake done: read on
    const int err = SSL_get_error(c.ssl, r);
    if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify: answer it and close
      SSL_shutdown(c.ssl);
      (void)flush(c);
      return false;
    }
    if (err != SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      (void)flush(c);  // the alert
      return false;
    }
    // Wants ciphertext: send what the step produced, then read the socket.
    const io f = flush(c);
    if (f == io::failed) return false;
    char* room = nullptr;
    const auto space = BIO_nwrite0(c.net, &room);
    if (space <= 0) return false;
    const ssize_t got = ::recv(c.fd, room, static_cast<std::size_t>(space), 0);
    if (got > 0) {
      BIO_nwrite(c.net, &room, static_cast<int>(got));
      continue;
    }
    if (got == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

void accept_all(worker& w) {
  for (;;) {
    int fd = ::accept4(w.listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new connection{fd, w.ctx};
    c->next = w.connections;
    if (c->next != nullptr) c->next->prev = c;
    w.connections = c;
    add_to_epoll(w, *c, EPOLLIN | EPOLLOUT | EPOLLET);
  }
}

void run(worker& w) {
  add_to_epoll(w, w.listener, EPOLLIN);
  add_to_epoll(w, w.wake, EPOLLIN);
  epoll_event events[max_events];
  for (bool stopping = false; !stopping;) {
    int n = ::epoll_wait(w.epoll_fd, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      peer::fail("epoll_wait", errno);
    }
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<source*>(events[i].data.ptr);
      switch (s->what) {
        case source::kind::listener: accept_all(w); break;
        case source::kind::wake: stopping = true; break;
        case source::kind::connection: {
          auto* c = static_cast<connection*>(s);
          if (!service(w, *c)) close_connection(w, c);
          break;
        }
      }
    }
  }
  while (w.connections != nullptr) close_connection(w, w.connections);
  ::close(w.epoll_fd);
  ::close(w.listener.fd);
  ::close(w.wake.fd);
}

SSL_CTX* make_context(const char* cert, const char* key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) peer::fail("SSL_CTX_new", ENOMEM);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    std::fprintf(stderr, "%s: cannot load %s / %s\n", peer::program, cert, key);
    std::exit(1);
  }
  return ctx;
}

}  // namespace

int main(int argc, char** argv) {
  // --cert and --key are ours; the rest is the peers' common command line.
  const char* cert = nullptr;
  const char* key = nullptr;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cert") == 0 && i + 1 < argc) {
      cert = argv[++i];
    } else if (std::strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
      key = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  peer::options opts = peer::parse_args(static_cast<int>(rest.size()), rest.data());
  if (!cert || !key) peer::usage_error("needs --cert FILE and --key FILE", "");
  sigset_t stop_signals = peer::block_stop_signals();
  SSL_CTX* ctx = make_context(cert, key);

  std::vector<std::unique_ptr<worker>> workers;
  std::uint16_t port = opts.port;
  for (unsigned i = 0; i < opts.threads; ++i) {
    auto w = std::make_unique<worker>();
    w->ctx = ctx;
    w->listener.fd = peer::open_listener(port, opts.threads > 1, SOCK_NONBLOCK);
    w->wake.fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake.fd < 0) peer::fail("eventfd", errno);
    w->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (w->epoll_fd < 0) peer::fail("epoll_create1", errno);
    workers.push_back(std::move(w));
  }
  peer::announce(port);

  std::vector<std::jthread> threads;
  threads.reserve(workers.size());
  for (auto& w : workers) threads.emplace_back([&w] { run(*w); });

  peer::wait_for_stop_signal(stop_signals);
  for (auto& w : workers) {
    std::uint64_t one = 1;
    if (::write(w->wake.fd, &one, sizeof one) != sizeof one) peer::fail("eventfd write", errno);
  }
  threads.clear();
  SSL_CTX_free(ctx);
  return 0;
}
