// tests/io/http_server_test.cpp: a minimal HTTP/1.1 server on the buffered
// streams, as a user would write it: request line and headers with limits,
// a body by Content-Length, keep-alive and pipelining, 431 for oversized
// headers. It answers each request with its target. The server is the
// part between the "server" markers; the rest drives it.
#include <gtest/gtest.h>

#include <charconv>
#include <string>
#include <string_view>

#include "corio/io/buffered_reader.hpp"
#include "corio/io/buffered_writer.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

// ---- server -----------------------------------------------------------------
constexpr std::size_t max_line = 4096;
constexpr int max_headers = 64;

struct request {
  std::string target;
  std::size_t content_length = 0;
  bool keep_alive = true;
};

bool equals_nocase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}

// Reads the request line and the headers; the error says why not.
task<result<request>> read_head(io::buffered_reader<net::tcp_stream>& in) {
  auto line = co_await in.read_line(max_line);
  if (!line) co_return fail(line.error());
  request req;
  const auto sp1 = line->find(' '), sp2 = line->rfind(' ');
  if (sp1 == sp2 || !line->substr(sp2 + 1).starts_with("HTTP/1."))
    co_return fail(std::errc::invalid_argument);
  req.target = line->substr(sp1 + 1, sp2 - sp1 - 1);
  req.keep_alive = line->substr(sp2 + 1) == "HTTP/1.1";
  for (int n = 0;; ++n) {
    auto h = co_await in.read_line(max_line);
    if (!h) co_return fail(h.error());
    if (h->empty()) co_return req;
    if (n == max_headers) co_return fail(errc::limit_exceeded);
    const auto colon = h->find(':');
    if (colon == std::string_view::npos) co_return fail(std::errc::invalid_argument);
    const auto name = h->substr(0, colon);
    auto value = h->substr(colon + 1);
    while (value.starts_with(' ')) value.remove_prefix(1);
    if (equals_nocase(name, "content-length")) {
      auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), req.content_length);
      if (ec != std::errc() || end != value.data() + value.size())
        co_return fail(std::errc::invalid_argument);
    } else if (equals_nocase(name, "connection")) {
      req.keep_alive = !equals_nocase(value, "close");
    }
  }
}

// Drops a body of `n` bytes, through the reader's buffer.
task<result<void>> skip_body(io::buffered_reader<net::tcp_stream>& in, std::size_t n) {
  while (n > 0) {
    if (in.buffered().empty()) {
      auto got = co_await in.fill();
      if (!got) co_return fail(got.error());
      if (*got == 0) co_return fail(errc::unexpected_eof);
    }
    const auto k = std::min(n, in.buffered().size());
    in.consume(k);
    n -= k;
  }
  co_return result<void>{};
}

task<void> serve_http(net::tcp_stream conn) {
  io::buffered_reader in(conn);
  io::buffered_writer out(conn);
  for (;;) {
    auto req = co_await read_head(in);
    if (!req) {
      if (req.error() == errc::limit_exceeded) {
        (void)co_await out.write(
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n");
      } else if (req.error() == std::errc::invalid_argument) {
        (void)co_await out.write(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
      }
      break;  // also errc::end_of_stream: the client closed between requests
    }
    if (!co_await skip_body(in, req->content_length)) break;
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(req->target.size()) + "\r\n" +
        (req->keep_alive ? "" : "Connection: close\r\n") + "\r\n";
    if (!co_await out.write(head) || !co_await out.write(req->target)) co_return;
    // Pipelined requests already buffered are answered in the same write.
    if (in.buffered().empty() || !req->keep_alive) {
      if (!co_await out.flush()) co_return;
    }
    if (!req->keep_alive) break;
  }
  (void)co_await out.flush();
  // Lingering close: the client gets its end, and what it still sends is
  // read and dropped until it closes, so that no reset (sent when a socket
  // closes with unread data) overtakes the last response.
  (void)conn.shutdown();
  for (;;) {
    in.consume(in.buffered().size());
    auto n = co_await in.fill();
    if (!n || *n == 0) break;
  }
}
// ---- end of server ------------------------------------------------------------

class http_server_test : public runtime_test {};

struct response {
  int status = 0;
  std::string body;
  bool close = false;
};

// Reads one response on the client side (a buffered reader too).
task<result<response>> read_response(io::buffered_reader<net::tcp_stream>& in) {
  auto status = co_await in.read_line(1024);
  if (!status) co_return fail(status.error());
  response r;
  r.status = std::stoi(std::string(status->substr(9, 3)));
  std::size_t length = 0;
  for (;;) {
    auto h = co_await in.read_line(1024);
    if (!h) co_return fail(h.error());
    if (h->empty()) break;
    if (h->starts_with("Content-Length: ")) length = std::stoul(std::string(h->substr(16)));
    if (*h == "Connection: close") r.close = true;
  }
  r.body.resize(length);
  if (auto b = co_await in.read_exact(std::as_writable_bytes(std::span(r.body))); !b)
    co_return fail(b.error());
  co_return r;
}

// Connects a client to a server that serves this one connection.
task<void> with_server(task<void> (*client)(net::tcp_stream&)) {
  auto [c, s] = co_await connected_pair();
  scope server;
  server.spawn_local(serve_http(std::move(s)));
  co_await client(c);
  c.close();
  co_await server.join();
}

TEST_F(http_server_test, KeepAliveAndPipelining) {
  run(with_server([](net::tcp_stream& c) -> task<void> {
    io::buffered_reader in(c);
    // Two requests on one connection, the second with a body that arrives
    // with it; then two pipelined in one write.
    CO_ASSERT(co_await c.write_all(std::string_view("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")));
    auto r1 = co_await read_response(in);
    CO_ASSERT(r1 && r1->status == 200);
    EXPECT_EQ(r1->body, "/first");
    CO_ASSERT(co_await c.write_all(
        std::string_view("POST /second HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")));
    auto r2 = co_await read_response(in);
    CO_ASSERT(r2 && r2->status == 200);
    EXPECT_EQ(r2->body, "/second");
    CO_ASSERT(
        co_await c.write_all(std::string_view("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")));
    auto a = co_await read_response(in);
    auto b = co_await read_response(in);
    CO_ASSERT(a && b);
    EXPECT_EQ(a->body, "/a");
    EXPECT_EQ(b->body, "/b");
  }));
}

TEST_F(http_server_test, ConnectionCloseEndsTheConnection) {
  run(with_server([](net::tcp_stream& c) -> task<void> {
    io::buffered_reader in(c);
    CO_ASSERT(
        co_await c.write_all(std::string_view("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n")));
    auto r = co_await read_response(in);
    CO_ASSERT(r.has_value());
    EXPECT_TRUE(r->close);
    auto end = co_await in.read_line(64);
    CO_ASSERT(!end);
    EXPECT_EQ(end.error(), errc::end_of_stream);
  }));
}

TEST_F(http_server_test, OversizedHeaderGets431) {
  run(with_server([](net::tcp_stream& c) -> task<void> {
    io::buffered_reader in(c);
    const std::string huge =
        "GET / HTTP/1.1\r\nX-Big: " + std::string(2 * max_line, 'a') + "\r\n\r\n";
    CO_ASSERT(co_await c.write_all(huge));
    auto r = co_await read_response(in);
    CO_ASSERT(r.has_value());
    EXPECT_EQ(r->status, 431);
  }));
}

}  // namespace
}  // namespace corio::test
