// raw_epoll_echo: a hand-written epoll echo server, the loop a competent
// engineer writes without tuning. Benchmark baseline, not part of corio.
//
// One epoll instance per thread, one listening socket per thread
// (SO_REUSEPORT when there are several), non-blocking sockets, one shared
// 64 KiB buffer per thread.
//
// Connections are EDGE-triggered: each is registered once with
// EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET and never modified, so the steady state costs
// no epoll_ctl calls. Edge triggering obliges us to read until the socket is
// empty, and to resume reading ourselves after a blocked write has drained
// (no new edge will announce data that arrived while we were not reading).
// A read shorter than the buffer emptied the socket (what arrives later
// brings a new edge), so, like nginx, we stop there without the read that
// would fail with EAGAIN, unless the event also says the peer hung up
// (EPOLLRDHUP): then we read on to the end of the stream, which no later edge
// would announce. The listening socket and the wake-up eventfd are
// level-triggered.
//
// Echo path: read into the thread's buffer, write it straight back. Only when
// a write is short is the unsent rest copied to a small per-connection heap
// buffer; reading then pauses until EPOLLOUT says the rest can go.
//
// --http: the floor of an HTTP/1.1 server for bench/compare_http.py's /hello
// case. Instead of echoing, every request head received (counted by its
// closing CRLF CRLF, even when split between reads) is answered with one
// fixed 200 "hello" answer with a Date field (nginx's fields, formatted once
// a second), all the answers to one read in one send. No parsing, no
// routing: the kernel's work per request and next to nothing of our own.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "peer_common.hpp"

namespace {

constexpr std::size_t buffer_size = 64 * 1024;
constexpr int max_events = 256;

bool http = false;  // --http

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
  unsigned matched = 0;             // --http: bytes of CRLF CRLF seen at the end of the last read
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

// --http: the answer to every request, repeated to fill a buffer, so that
// the answers to n requests are its first n * size bytes (from any offset
// into the pattern, after a short send). One per thread.
struct http_answers {
  static constexpr std::size_t count = 512;
  std::time_t second = -1;  // when `one` was formatted
  std::size_t size = 0;     // of one answer
  char one[160];
  char all[count * sizeof one];

  void refresh() {
    const std::time_t now = std::time(nullptr);
    if (now == second) return;
    second = now;
    char date[40];
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    size = static_cast<std::size_t>(
        std::snprintf(one, sizeof one,
                      "HTTP/1.1 200 OK\r\nServer: raw\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                      "Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
                      date));
    for (std::size_t i = 0; i < count; ++i) std::memcpy(all + i * size, one, size);
  }
};
thread_local http_answers answers;

// --http: counts the request heads that end in data[0, len), carrying a
// partial CRLF CRLF over to the next read in `matched`.
std::size_t count_heads(const char* data, std::size_t len, unsigned& matched) {
  static constexpr std::string_view end = "\r\n\r\n";
  std::size_t heads = 0;
  for (std::size_t i = 0; i < len; ++i) {
    if (data[i] == end[matched]) {
      if (++matched == end.size()) {
        ++heads;
        matched = 0;
      }
    } else {
      matched = data[i] == end[0] ? 1 : 0;
    }
  }
  return heads;
}

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
// `hung_up`: the peer closed its side (read on to the end of the stream).
// Returns false when the connection should be closed (EOF or error).
bool service(worker& w, connection& c, bool hung_up) {
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
    // What to send: the bytes read (echo), or the answers to the request
    // heads they complete (--http), sent from the repeated pattern.
    const char* out = w.buf;
    std::size_t len = static_cast<std::size_t>(got);
    if (http) {
      answers.refresh();
      len = count_heads(w.buf, len, c.matched) * answers.size;
      out = answers.all;
    }
    std::size_t off = 0;
    while (off < len) {
      const char* from = out + off;
      std::size_t size = len - off;
      if (http) {  // stay inside the pattern buffer
        from = answers.all + off % answers.size;
        size = std::min(size, sizeof answers.all - off % answers.size);
      }
      ssize_t n = ::send(c.fd, from, size, MSG_NOSIGNAL);
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
      for (std::size_t i = 0; i < c.pending_len; ++i) {
        c.pending[i] = http ? answers.one[(off + i) % answers.size] : out[off + i];
      }
      return true;
    }
    if (static_cast<std::size_t>(got) < buffer_size && !hung_up) return true;  // emptied
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
    add_to_epoll(w, *c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
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
          const bool hung_up = (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
          if (!service(w, *c, hung_up)) close_connection(w, c);
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
  std::vector<char*> rest;  // the arguments peer::parse_args knows
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::string_view(argv[i]) == "--http") {
      http = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  rest.push_back(nullptr);
  peer::options opts = peer::parse_args(static_cast<int>(rest.size()) - 1, rest.data());
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
