// demos/http_server/server.hpp: the static-file HTTP/1.1 server of
// demos/http_server, as a library the demo's main.cpp and the tests share.
//
// One connection is one coroutine (serve_connection) over any stream whose
// read and write_all are corio operations (tcp_stream, tls::stream): it
// reads into a buffer of its own (on io_uring over TCP through
// read_pooled, which keeps one multishot receive per connection, so a
// keep-alive connection submits nothing to receive its next request; the
// bytes are copied into the buffer), parses each request head with
// http::head_parser, and answers pipelined requests in order, batching the
// answers that are ready into one write. Requests it must refuse get a
// status and a one-line reason, then the connection is closed.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>

#include "corio/cancel.hpp"
#include "corio/io/buffered_reader.hpp"
#include "corio/io/pooled_buffer.hpp"
#include "corio/io/stream.hpp"
#include "corio/net/tcp_listener.hpp"
#include "corio/net/tcp_stream.hpp"
#include "corio/runtime.hpp"
#include "corio/task.hpp"
#include "corio/time.hpp"
#include "corio/tls/context.hpp"
#include "http/parser.hpp"
#include "http/util.hpp"

namespace http_server {

/// How a server behaves.
struct config {
  /// The document root ("" serves only /hello; everything else is 404).
  std::string root;
  /// A request head must arrive within this time from when the server
  /// starts waiting for it (after the previous answer on a keep-alive
  /// connection): past it, a partial head gets 408 and the connection is
  /// closed; an idle connection (nothing of a next request yet) is closed
  /// without an answer.
  std::chrono::milliseconds header_timeout{10'000};
  /// Where access-log lines go (one per request), or nullptr for none.
  std::FILE* log = nullptr;
  /// The names this server answers to in an absolute-form target
  /// (http://HOST:PORT/path): the --host it listens on, besides localhost,
  /// 127.0.0.1 and [::1]. Other hosts get 400: it is not a proxy.
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  /// Request head limits (414, 431).
  http::limits limits;
  /// The largest body a GET or HEAD may carry (it is read and dropped);
  /// larger: 413.
  std::uint64_t max_body = 64 * 1024;
  /// HTTPS: each connection's TLS handshake (bounded by header_timeout)
  /// comes first; null for plain HTTP. Outlives the server.
  const corio::tls::context* tls = nullptr;
  /// Plain HTTP reads through read_pooled, copying into the connection's
  /// buffer (pooled_reads_pay_off says where main.cpp turns it on).
  bool pooled_reads = false;
};

/// Whether config::pooled_reads pays off on `backend`: on io_uring a
/// connection then keeps one multishot receive between requests. On epoll
/// and IOCP there is no receive to keep, only the copy, and on IOCP the
/// pool's blocks move between workers (a read resumes on any of them).
constexpr bool pooled_reads_pay_off(corio::backend_kind backend) noexcept {
  return backend == corio::backend_kind::io_uring;
}

/// The fixed answer of /hello, from memory.
inline constexpr std::string_view hello_body = "hello";

/// Appends text to a fixed buffer; what does not fit is refused (the
/// caller flushes first or answers 500).
class out_buffer {
 public:
  explicit out_buffer(std::span<char> storage) noexcept : buf_(storage) {}
  bool append(std::string_view s) noexcept {
    if (s.size() > buf_.size() - used_) return false;
    std::memcpy(buf_.data() + used_, s.data(), s.size());
    used_ += s.size();
    return true;
  }
  bool append_number(std::uint64_t v) noexcept;
  std::size_t size() const noexcept { return used_; }
  std::size_t room() const noexcept { return buf_.size() - used_; }
  std::string_view view() const noexcept { return {buf_.data(), used_}; }
  void clear() noexcept { used_ = 0; }
  /// The free space, to read into; commit() what was put there.
  std::span<char> spare() noexcept { return buf_.subspan(used_); }
  void commit(std::size_t n) noexcept { used_ += n < room() ? n : room(); }
  /// Drops what was appended after `mark` (an answer that did not fit).
  void truncate(std::size_t mark) noexcept { used_ = mark < used_ ? mark : used_; }

 private:
  std::span<char> buf_;
  std::size_t used_ = 0;
};

/// What the server decided for one request, before any file is touched.
struct route {
  enum class kind : std::uint8_t { hello, file, refuse };
  kind k = kind::refuse;
  int status = 0;          // for refuse
  std::string_view why;    // for refuse: the body's one line
  bool close = false;      // for refuse: close the connection afterwards
  std::size_t path_len = 0;  // for file: the decoded path, in the path buffer
};

/// Decides what to do with `m` (method, target, body size, path), writing
/// the decoded path of a file request into `path`.
route decide(const http::message& m, const config& cfg, std::span<char> path) noexcept;

/// Appends a complete answer without a file: a status with `why` as its
/// text body (nothing after the head for HEAD and 304), and the Connection
/// field that `keep_alive` asks for. Returns the bytes of body written.
std::uint64_t append_simple(out_buffer& out, int status, std::string_view why, bool head_only,
                            bool keep_alive, int version_minor) noexcept;

/// Appends the answer to /hello.
std::uint64_t append_hello(out_buffer& out, bool head_only, bool keep_alive,
                           int version_minor) noexcept;

/// Writes one access-log line: peer, request line, status, body bytes.
void log_request(std::FILE* log, std::string_view peer, const http::message& m, int status,
                 std::uint64_t bytes) noexcept;
/// A log line for a request that could not be parsed.
void log_refused(std::FILE* log, std::string_view peer, int status) noexcept;

/// The answer of a file request (serve_file below), as far as it is known
/// before the body is sent.
struct file_answer {
  int status = 0;
  std::uint64_t body = 0;  // bytes of body that follow the head
};

/// A file request (defined in files.hpp, included at the end).
template <class Stream>
corio::task<corio::result<file_answer>> serve_file(Stream& s, out_buffer& out,
                                                   const http::message& m, const config& cfg,
                                                   std::string_view path, std::span<char> name,
                                                   const std::stop_token& stop);

namespace detail {

// What a pooled read brought that the connection's buffer had no room for
// yet: taken first by the next read, so bytes stay in order.
struct pooled_rest {
  corio::io::pooled_buffer buf;
  std::size_t taken = 0;

  bool empty() const noexcept { return taken == buf.size(); }
  // Copies what fits into `room`; gives the buffer back once all is taken.
  std::size_t take(std::span<char> room) noexcept {
    const auto bytes = buf.bytes().subspan(taken);
    const std::size_t n = room.size() < bytes.size() ? room.size() : bytes.size();
    std::memcpy(room.data(), bytes.data(), n);
    taken += n;
    if (taken == buf.size()) {
      buf.reset();
      taken = 0;
    }
    return n;
  }
};

// Reads into `room` (never empty) by `deadline` through read_pooled: 0 at
// the end of the stream; what does not fit waits in `rest`. Only for
// config::pooled_reads (the other reads await s.read directly: no
// coroutine of their own per read).
template <class Stream>
corio::task<corio::result<std::size_t>> read_pooled_into(Stream& s, pooled_rest& rest,
                                                         std::span<char> room,
                                                         corio::clock::time_point deadline,
                                                         const std::stop_token& stop) {
  if constexpr (corio::io::pooled_readable_stream<Stream>) {
    if (rest.empty()) {
      auto b = co_await corio::with_stop(corio::with_deadline(s.read_pooled(), deadline), stop);
      if (!b) co_return corio::fail(b.error());
      if (b->empty()) co_return std::size_t{0};  // the peer closed
      rest.buf = std::move(*b);
    }
    co_return rest.take(room);
  } else {
    co_return co_await corio::with_stop(corio::with_deadline(s.read(room), deadline), stop);
  }
}

// Sends everything in `out` and empties it.
template <class Stream>
corio::task<corio::result<void>> flush(Stream& s, out_buffer& out, const std::stop_token& stop) {
  if (out.size() == 0) co_return corio::result<void>{};
  auto sent = co_await corio::with_stop(s.write_all(out.view()), stop);
  out.clear();
  co_return sent;
}

// Ends a connection the server decided to close: sends what is in `out`,
// shuts the sending side, then reads and drops what the client still sends
// (for at most a second and 1 MiB) until it closes too. Closing with unread
// bytes would send a reset, and the client could lose the answer (a 414
// after part of a long request line, a 400 in a pipelined batch): nginx's
// lingering close.
template <class Stream>
corio::task<void> close_gently(Stream& s, out_buffer& out, std::span<char> scratch,
                               const std::stop_token& stop) {
  if (!co_await flush(s, out, stop)) co_return;
  if constexpr (corio::io::half_closable<Stream>) {
    corio::result<void> shut;
    if constexpr (corio::io::shuts_down_at_once<Stream>) {
      shut = s.shutdown();
    } else {
      shut = co_await corio::with_stop(s.shutdown(), stop);  // tls::stream: close_notify
    }
    if (!shut) co_return;
    const auto until = corio::clock::now() + std::chrono::seconds(1);
    for (std::size_t drained = 0; drained < (std::size_t{1} << 20);) {
      auto n = co_await corio::with_stop(corio::with_deadline(s.read(scratch), until), stop);
      if (!n || *n == 0) break;
      drained += *n;
    }
  }
}

}  // namespace detail

/// Serves one connection until the peer closes it, a request asks to close
/// it, a refusal closes it, the header timeout passes, or `stop` (the
/// server's shutdown) cancels what it is waiting for. `peer` names the
/// client in the access log. Allocates nothing per request for /hello.
template <class Stream>
corio::task<void> serve_connection(Stream& s, const config& cfg, std::stop_token stop,
                                   std::string_view peer) {
  // The head limit plus room for the next pipelined requests behind it.
  std::array<char, 20 * 1024> in;
  std::array<char, 8 * 1024> out_storage;
  std::array<char, 4096> path;
  std::array<char, 4096 + 512> name;  // root + path + index.html
  out_buffer out(out_storage);
  std::size_t begin = 0, end = 0;  // unconsumed bytes of `in`
  detail::pooled_rest unread;      // received, not yet in `in`
  http::head_parser parser(http::head_parser::kind::request, cfg.limits);
  for (;;) {
    parser.reset();
    const auto deadline = corio::clock::now() + cfg.header_timeout;
    http::parse_status ps;
    while ((ps = parser.parse(std::string_view(in.data() + begin, end - begin))) ==
           http::parse_status::incomplete) {
      // About to wait for the peer: what is answered goes out first.
      if (!co_await detail::flush(s, out, stop)) co_return;
      if (end == in.size()) {
        // The head limit is below the capacity, so moving the request to
        // the front always makes room.
        std::memmove(in.data(), in.data() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
      const auto room = std::span(in).subspan(end);
      corio::result<std::size_t> n;
      if (cfg.pooled_reads) {
        n = co_await detail::read_pooled_into(s, unread, room, deadline, stop);
      } else {
        n = co_await corio::with_stop(corio::with_deadline(s.read(room), deadline), stop);
      }
      if (!n) {
        if (n.error() == std::errc::timed_out && end > begin) {
          append_simple(out, 408, "request header not received in time", false, false, 1);
          log_refused(cfg.log, peer, 408);
          co_await detail::close_gently(s, out, std::span(in), stop);
        }
        co_return;
      }
      if (*n == 0) co_return;  // the peer closed (a partial request is dropped)
      end += *n;
    }
    if (ps == http::parse_status::error) {
      append_simple(out, parser.error_status(), parser.error_reason(), false, false, 1);
      log_refused(cfg.log, peer, parser.error_status());
      co_await detail::close_gently(s, out, std::span(in), stop);
      co_return;
    }
    const http::message& m = parser.get(std::string_view(in.data() + begin, end - begin));
    const route r = decide(m, cfg, path);
    const bool head_only = m.verb == http::method::head;
    bool keep_alive = m.keep_alive;
    int status = 0;
    std::uint64_t body_bytes = 0;
    // Answers that are ready stay in `out` while more requests follow;
    // flushed when the server must wait or the buffer runs short.
    if (out.room() < 1024 && !co_await detail::flush(s, out, stop)) co_return;
    // "Expect: 100-continue" with the body not here yet: the client waits
    // for a go-ahead before sending it (RFC 9110 10.1.1). A request that is
    // answered gets "100 Continue" first; a refusal closes the connection
    // instead, so that no body is sent only to be dropped.
    if (parser.head_size() + m.content_length > end - begin && m.version_minor >= 1 &&
        http::iequals(m.find("Expect"), "100-continue")) {
      if (r.k == route::kind::refuse) {
        keep_alive = false;
      } else {
        out.append("HTTP/1.1 100 Continue\r\n\r\n");
      }
    }
    switch (r.k) {
      case route::kind::hello:
        status = 200;
        body_bytes = append_hello(out, head_only, keep_alive, m.version_minor);
        break;
      case route::kind::refuse:
        status = r.status;
        keep_alive = keep_alive && !r.close;
        body_bytes = append_simple(out, status, r.why, head_only, keep_alive, m.version_minor);
        break;
      case route::kind::file: {
        auto a = co_await serve_file(s, out, m, cfg, std::string_view(path.data(), r.path_len),
                                     std::span<char>(name), stop);
        if (!a) co_return;  // the connection broke while sending
        status = a->status;
        body_bytes = a->body;
        break;
      }
    }
    log_request(cfg.log, peer, m, status, body_bytes);
    if (!keep_alive) {
      co_await detail::close_gently(s, out, std::span(in), stop);
      co_return;
    }
    // The request's body (a GET may carry a small one) is read and dropped.
    std::uint64_t rest = parser.head_size() + m.content_length;
    if (rest <= end - begin) {
      begin += static_cast<std::size_t>(rest);
    } else {
      rest -= end - begin;
      begin = end = 0;
      // About to wait for the body: the answer (and a 100 Continue the
      // client may be waiting for) goes out first.
      if (!co_await detail::flush(s, out, stop)) co_return;
      while (rest > 0) {
        corio::result<std::size_t> n;
        if (cfg.pooled_reads) {
          n = co_await detail::read_pooled_into(s, unread, std::span(in), deadline, stop);
        } else {
          n = co_await corio::with_stop(corio::with_deadline(s.read(std::span(in)), deadline),
                                        stop);
        }
        if (!n || *n == 0) co_return;
        const std::size_t take = *n < rest ? *n : static_cast<std::size_t>(rest);
        rest -= take;
        if (rest == 0) {
          begin = take;
          end = *n;
        }
      }
    }
    if (begin == end) begin = end = 0;
  }
}

/// Accepts on `listener` until `accepting` stops, serving each connection
/// in a child that `connections` stops; returns when every child is done.
corio::task<void> serve(corio::net::tcp_listener& listener, const config& cfg,
                        std::stop_token accepting, std::stop_token connections);

}  // namespace http_server

#include "http_server/files.hpp"  // serve_file
