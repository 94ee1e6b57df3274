// raw_epoll_echo: a hand-written epoll echo server, the loop a competent
// engineer writes without tuning. Benchmark baseline, not part of corio.
//
// One epoll instance per thread, one listening socket per thread
// (SO_REUSEPORT when there are several), non-blocking sockets, one shared
// 64 KiB buffer per thread.
//
// Connections are EDGE-triggered: each is registered once with
// EPOLLIN | EPOLLOUT | EPOLLET and never modified, so the steady state costs
// no epoll_ctl calls. Edge triggering obliges us to read until EAGAIN, and to
// resume reading ourselves after a blocked write has drained (no new edge
// will announce data that arrived while we were not reading). The listening
// socket and the wake-up eventfd are level-triggered.
//
// Echo path: read into the thread's buffer, write it straight back. Only when
// a write is short is the unsent rest copied to a small per-connection heap
// buffer; reading then pauses until EPOLLOUT says the rest can go.

#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <thread>
#include <vector>

#include "peer_common.hpp"

namespace {

constexpr std::size_t buffer_size = 64 * 1024;
constexpr int max_events = 256;

// What an epoll event's data.ptr points at.
struct source {
  enum class kind : std::uint8_t { listener, wake, connection };
  kind what;
  int fd = -1;
};

struct connection : source {
  explicit connection(int socket) : source{kind::connection, socket} {}

  std::unique_ptr<char[]> pending;  // unsent rest of a short write, or null
  std::size_t pending_len = 0;      // bytes in pending
  std::size_t pending_off = 0;      // of pending_len, bytes already written
  connection* prev = nullptr;       // links in the worker's list, so that
  connection* next = nullptr;       // shutdown can close what is still open
};

struct worker {
  int epoll_fd = -1;
  source listener{source::kind::listener};
  source wake{source::kind::wake};     // eventfd the main thread writes to at shutdown
  connection* connections = nullptr;   // head of the list of open connections
  bool accept_error_reported = false;  // report a failing accept once, not per retry
  char buf[buffer_size];               // shared by every connection of this thread
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
  ::close(c->fd);  // also removes it from the epoll set
  delete c;
}

// Writes as much of pending as the socket takes. Returns false on a fatal
// error; on success pending is either empty (and freed) or still waiting for
// EPOLLOUT.
bool flush_pending(connection& c) {
  while (c.pending_off < c.pending_len) {
    ssize_t n =
        ::send(c.fd, c.pending.get() + c.pending_off, c.pending_len - c.pending_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.pending_off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      return false;
    }
  }
  c.pending.reset();
  c.pending_len = c.pending_off = 0;
  return true;
}

// Runs the connection as far as it can go without blocking: first the unsent
// rest of an earlier write, then read/echo until the socket has no more data.
// Returns false when the connection should be closed (EOF or error).
bool service(worker& w, connection& c) {
  if (c.pending_len != 0) {
    if (!flush_pending(c)) return false;
    if (c.pending_len != 0) return true;  // still blocked: wait for EPOLLOUT
  }
  for (;;) {
    ssize_t got = ::recv(c.fd, w.buf, buffer_size, 0);
    if (got == 0) return false;
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    std::size_t len = static_cast<std::size_t>(got);
    std::size_t off = 0;
    while (off < len) {
      ssize_t n = ::send(c.fd, w.buf + off, len - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        return false;
      }
    }
    if (off < len) {
      // Short write: keep the rest (w.buf is reused by the next connection)
      // and stop reading until EPOLLOUT, which is the backpressure.
      c.pending_len = len - off;
      c.pending = std::make_unique_for_overwrite<char[]>(c.pending_len);
      std::memcpy(c.pending.get(), w.buf + off, c.pending_len);
      return true;
    }
  }
}

void accept_all(worker& w) {
  for (;;) {
    int fd = ::accept4(w.listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK && !w.accept_error_reported) {
        // EMFILE and friends: the listener stays readable, so we come back
        // here on the next wait; report it once rather than per retry.
        std::fprintf(stderr, "%s: accept4: %s\n", peer::program, std::strerror(errno));
        w.accept_error_reported = true;
      }
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new connection{fd};
    c->next = w.connections;
    if (c->next != nullptr) c->next->prev = c;
    w.connections = c;
    // Registering a socket that already has data queues an event at once, so
    // bytes that arrived before this call are not missed.
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
      // Safe: every data.ptr registered is a source, and a connection is
      // freed only in close_connection, which also closes its fd, so no later
      // epoll_wait reports it. Within one batch each fd appears at most once.
      auto* s = static_cast<source*>(events[i].data.ptr);
      switch (s->what) {
        case source::kind::listener:
          accept_all(w);
          break;
        case source::kind::wake:
          stopping = true;
          break;
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

}  // namespace

int main(int argc, char** argv) {
  peer::options opts = peer::parse_args(argc, argv);
  sigset_t stop_signals = peer::block_stop_signals();

  // Set everything up on the main thread so that any failure is reported
  // before the "listening" line. Thread 0 binds first; the others reuse the
  // port it got.
  std::vector<std::unique_ptr<worker>> workers;
  std::uint16_t port = opts.port;
  for (unsigned i = 0; i < opts.threads; ++i) {
    auto w = std::make_unique<worker>();
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
  threads.clear();  // joins
  return 0;
}
