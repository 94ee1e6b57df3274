// tests/http/server_test.cpp: the static-file server (demos/http_server) on
// every backend, driven by a raw socket: /hello with keep-alive and
// pipelining (split at every byte), each refusal, files (GET, HEAD, Range,
// 416, If-Modified-Since, directories), the slowloris header timeout while
// another client is served, and a graceful stop.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "corio/when.hpp"
#include "http_server/server.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A document root with a few files, removed at the end.
class site {
 public:
  site() {
    root_ = fs::temp_directory_path() /
            ("corio-http-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "dir");
    fs::create_directories(root_ / "empty");
    write("a.txt", "0123456789abcdefghij");
    write("dir/index.html", "<p>index</p>\n");
    big_.resize(300 * 1024);
    for (std::size_t i = 0; i < big_.size(); ++i) big_[i] = static_cast<char>('a' + i * 7 % 26);
    write("big.bin", big_);
  }
  ~site() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root() const { return root_.generic_string(); }
  const std::string& big() const { return big_; }

 private:
  void write(const std::string& name, std::string_view text) {
    std::ofstream f(root_ / name, std::ios::binary);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  fs::path root_;
  std::string big_;
};

// One answer as the client saw it.
struct answer {
  int status = 0;
  std::string head;  // status line and fields
  std::string body;
  std::string field(std::string_view name) const {
    const std::string key = "\r\n" + std::string(name) + ": ";
    const auto at = head.find(key);
    if (at == std::string::npos) return {};
    const auto from = at + key.size();
    return head.substr(from, head.find("\r\n", from) - from);
  }
};

// Splits what a connection received into answers (Content-Length framing;
// HEAD answers and 304 have no body: `bodiless` says which ones).
std::vector<answer> split_answers(std::string_view all, const std::vector<bool>& bodiless = {}) {
  std::vector<answer> out;
  while (!all.empty()) {
    const auto end = all.find("\r\n\r\n");
    if (end == std::string_view::npos || !all.starts_with("HTTP/1.")) break;
    answer a;
    a.head = std::string(all.substr(0, end + 2));
    a.status = std::stoi(std::string(all.substr(9, 3)));
    all.remove_prefix(end + 4);
    const std::string len = a.field("Content-Length");
    const bool none = (out.size() < bodiless.size() && bodiless[out.size()]) || a.status == 304;
    const std::size_t n = none || len.empty() ? 0 : std::stoul(len);
    a.body = std::string(all.substr(0, n));
    all.remove_prefix(std::min(n, all.size()));
    out.push_back(std::move(a));
  }
  return out;
}

class static_http_server : public runtime_test {
 protected:
  // The demo's settings for this runtime (reads pooled where that pays off).
  http_server::config demo_config() {
    http_server::config cfg;
    cfg.pooled_reads = http_server::pooled_reads_pay_off(rt.backend());
    return cfg;
  }

  // Runs `client(port)` against a server on a loopback port, then stops the
  // server and waits for it (every connection joined).
  template <class F>
  void with_server(F client) {
    with_server(std::move(client), demo_config());
  }
  template <class F>
  void with_server(F client, http_server::config cfg) {
    run([](http_server::config cfg, F client) -> task<void> {
      auto listener = listen_loopback();
      cfg.port = port_of(listener);
      std::stop_source accepting, connections;
      scope server;
      server.spawn(http_server::serve(listener, cfg, accepting.get_token(), connections.get_token()));
      co_await client(port_of(listener));
      accepting.request_stop();
      connections.request_stop();
      co_await server.join();
    }(std::move(cfg), std::move(client)), 60s);
  }
};

task<net::tcp_stream> connect_to(std::uint16_t port) {
  auto c = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
  EXPECT_TRUE(c) << c.error().message();
  co_return std::move(*c);
}

// Reads until the server closes the connection.
task<std::string> read_to_end(net::tcp_stream& c) {
  std::string all;
  std::array<char, 16 * 1024> buf;
  for (;;) {
    auto n = co_await with_timeout(c.read(buf), 20s);
    if (!n || *n == 0) break;
    all.append(buf.data(), *n);
  }
  co_return all;
}

// Sends `request` (in pieces split at the given offsets) and reads until
// the server closes.
task<std::string> exchange(std::uint16_t port, std::string request,
                           std::vector<std::size_t> cuts = {}) {
  auto c = co_await connect_to(port);
  std::size_t from = 0;
  cuts.push_back(request.size());
  for (std::size_t cut : cuts) {
    if (cut > from) {
      auto w = co_await c.write_all(std::string_view(request).substr(from, cut - from));
      EXPECT_TRUE(w);
      from = cut;
    }
  }
  co_return co_await read_to_end(c);
}

TEST_F(static_http_server, HelloKeepAliveAndPipelining) {
  with_server([](std::uint16_t port) -> task<void> {
    const std::string all = co_await exchange(
        port,
        "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
        "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    const auto a = split_answers(all, {false, true, false, false});
    CO_ASSERT(a.size() == 4);
    for (const auto& x : a) EXPECT_EQ(x.status, 200) << x.head;
    EXPECT_EQ(a[0].body, "hello");
    EXPECT_EQ(a[0].field("Content-Length"), "5");
    EXPECT_EQ(a[0].field("Date").size(), http::date_size);
    EXPECT_EQ(a[1].body, "");
    EXPECT_TRUE(a[2].head.starts_with("HTTP/1.0 200"));
    EXPECT_EQ(a[2].field("Connection"), "keep-alive");
    EXPECT_EQ(a[3].field("Connection"), "close");
    EXPECT_EQ(a[3].body, "hello");
  });
}

TEST_F(static_http_server, PipelinedRequestsSplitAtEveryByte) {
  with_server([](std::uint16_t port) -> task<void> {
    const std::string two =
        "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    for (std::size_t k = 1; k < two.size(); ++k) {
      // (Named: GCC 12 rejects a braced list inside a co_await expression.)
      std::vector<std::size_t> cuts{k};
      const std::string all = co_await exchange(port, two, std::move(cuts));
      const auto a = split_answers(all);
      CO_ASSERT(a.size() == 2);
      EXPECT_EQ(a[0].body, "hello") << k;
      EXPECT_EQ(a[1].body, "hello") << k;
    }
  });
}

// 400 pipelined requests of varied sizes (some with small bodies) in one
// stream of ~90 KiB, written while the answers are read: more than the
// server's 20 KiB buffer and than one received buffer (16 KiB) at a time,
// so requests straddle both, and every one is answered once, in order.
// With plain reads, and with pooled reads on every backend.
TEST_F(static_http_server, PipelinedBatchBeyondTheBufferIsAnsweredInOrder) {
  auto client = [](std::uint16_t port) -> task<void> {
    constexpr int count = 400;
    std::string batch;
    for (int i = 0; i < count; ++i) {
      batch += "GET /hello HTTP/1.1\r\nHost: a\r\nX-Pad: ";
      batch += std::string(static_cast<std::size_t>(i % 251 + 1), 'p') + "\r\n";
      if (i % 9 == 4) {
        batch += "Content-Length: 7\r\n\r\nbody-" + std::to_string(i % 10) + "\n";
      } else if (i == count - 1) {
        batch += "Connection: close\r\n\r\n";
      } else {
        batch += "\r\n";
      }
    }
    auto c = co_await connect_to(port);
    std::string all;
    auto send = [](net::tcp_stream& c, const std::string& batch) -> task<void> {
      EXPECT_TRUE(co_await c.write_all(std::string_view(batch)));
    };
    auto receive = [](net::tcp_stream& c, std::string& all) -> task<void> {
      all = co_await read_to_end(c);
    };
    co_await when_all(send(c, batch), receive(c, all));
    const auto a = split_answers(all);
    CO_ASSERT(a.size() == static_cast<std::size_t>(count));
    for (const auto& one : a) {
      EXPECT_EQ(one.status, 200);
      EXPECT_EQ(one.body, "hello");
    }
  };
  for (const bool pooled : {false, true}) {
    http_server::config cfg = demo_config();
    cfg.pooled_reads = pooled;
    with_server(client, cfg);
  }
}

TEST_F(static_http_server, GetWithSmallBodyIsServedAndTheBodySkipped) {
  with_server([](std::uint16_t port) -> task<void> {
    const auto a = split_answers(co_await exchange(
        port,
        "GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
        "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    CO_ASSERT(a.size() == 2);
    EXPECT_EQ(a[1].status, 200);
  });
}

// "Expect: 100-continue": the client sends the head and waits. The server
// says "100 Continue", answers, and takes the body once it comes; a request
// it refuses gets its answer at once and the connection closes (no body is
// sent only to be dropped). Before, both waited for a body that the client
// was holding back.
TEST_F(static_http_server, ExpectContinueGetsAGoAheadOrAClose) {
  with_server([](std::uint16_t port) -> task<void> {
    auto c = co_await connect_to(port);
    CO_ASSERT(co_await c.write_all(std::string_view(
        "GET /hello HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")));
    const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
    std::string got;
    std::array<char, 4096> buf;
    // Without the go-ahead nothing comes: the read times out, and fails the test.
    while (!(got.size() > interim.size() && got.ends_with("\r\n\r\nhello"))) {
      auto n = co_await with_timeout(c.read(buf), 20s);
      CO_ASSERT(n && *n > 0);
      got.append(buf.data(), *n);
    }
    CO_ASSERT(got.starts_with(interim));
    const auto first = split_answers(std::string_view(got).substr(interim.size()));
    CO_ASSERT(first.size() == 1);
    EXPECT_EQ(first[0].status, 200);
    // The body, then a next request on the same connection.
    CO_ASSERT(co_await c.write_all(
        std::string_view("bodyGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")));
    const auto next = split_answers(co_await read_to_end(c));
    CO_ASSERT(next.size() == 1);
    EXPECT_EQ(next[0].body, "hello");

    // Refused (405): the answer at once, then the end of the connection.
    const auto refused = split_answers(co_await exchange(
        port, "POST /hello HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
    CO_ASSERT(refused.size() == 1);
    EXPECT_EQ(refused[0].status, 405);
    EXPECT_EQ(refused[0].field("Connection"), "close");
  });
}

// Each case: the request, the status it must get; the connection then ends.
TEST_F(static_http_server, Refusals) {
  http_server::config cfg = demo_config();
  cfg.max_body = 1024;
  with_server(
      [](std::uint16_t port) -> task<void> {
        const std::string long_line = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
        std::string big_head = "GET /hello HTTP/1.1\r\nHost: a\r\n";
        while (big_head.size() < 17000) big_head += "X-Filler: " + std::string(200, 'x') + "\r\n";
        big_head += "\r\n";
        const std::pair<std::string, int> cases[] = {
            {long_line, 414},
            {big_head, 431},
            {"GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", 413},
            {"POST /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 405},
            {"BREW /pot HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 501},
            {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
            {"GET /hello HTTP/3.0\r\nHost: a\r\n\r\n", 505},
            {"GET /hello\r\n", 400},  // HTTP/0.9
            {"GET /../etc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400},
            {"GET /%2e%2e/%2E%2E/etc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400},
            {"GET /a%00.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400},
            {"GET /a\\..\\b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400},
            {"GET /a%5c..%5cb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400},
            {"GET http://example.com/hello HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
            {"GET hello HTTP/1.1\r\nHost: a\r\n\r\n", 400},
            {"GET /hello HTTP/1.1\r\n\r\n", 400},  // no Host
            {"GET /hello HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
            {"GET /hello HTTP/1.1\nHost: a\n\n", 400},
        };
        for (const auto& [request, status] : cases) {
          const std::string all = co_await exchange(port, request);
          const auto a = split_answers(all);
          CO_ASSERT(!a.empty());
          EXPECT_EQ(a[0].status, status) << request.substr(0, 60);
          EXPECT_FALSE(a[0].body.empty());  // the reason, in a line
          if (status == 405) {
            EXPECT_EQ(a[0].field("Allow"), "GET, HEAD");
          }
        }
        // absolute-form naming this server is served.
        const auto own = split_answers(co_await exchange(
            port, "GET http://127.0.0.1:" + std::to_string(port) +
                      "/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        CO_ASSERT(own.size() == 1);
        EXPECT_EQ(own[0].status, 200);
        EXPECT_EQ(own[0].body, "hello");
      },
      cfg);
}

TEST_F(static_http_server, SlowlorisIsCutOffWhileOthersAreServed) {
  http_server::config cfg = demo_config();
  cfg.header_timeout = 1500ms;
  with_server(
      [](std::uint16_t port) -> task<void> {
        // The slow client sends part of a head, then nothing.
        auto slow = co_await connect_to(port);
        CO_ASSERT(co_await slow.write_all(std::string_view("GET /hello HTTP/1.1\r\nHost: a\r\n")));
        // An idle connection (nothing sent) is closed without an answer.
        auto idle = co_await connect_to(port);
        // Meanwhile other clients are served, several requests each.
        for (int i = 0; i < 3; ++i) {
          const auto a = split_answers(co_await exchange(
              port,
              "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
          CO_ASSERT(a.size() == 2);
          EXPECT_EQ(a[1].body, "hello");
        }
        // The server's own header timeout answers the slow one: 408, then close.
        const auto cut = split_answers(co_await read_to_end(slow));
        CO_ASSERT(cut.size() == 1);
        EXPECT_EQ(cut[0].status, 408);
        EXPECT_EQ(cut[0].field("Connection"), "close");
        EXPECT_EQ(co_await read_to_end(idle), "");
      },
      cfg);
}

TEST_F(static_http_server, Files) {
  site s;
  http_server::config cfg = demo_config();
  cfg.root = s.root();
  with_server(
      // The closure lives in with_server's frame until the client is done.
      [&s](std::uint16_t port) -> task<void> {
        auto get = [&](std::string path, std::string extra = "") -> task<std::vector<answer>> {
          co_return split_answers(co_await exchange(
              port, "GET " + path + " HTTP/1.1\r\nHost: a\r\n" + extra + "Connection: close\r\n\r\n"));
        };
        auto a = co_await get("/a.txt");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 200);
        EXPECT_EQ(a[0].body, "0123456789abcdefghij");
        EXPECT_EQ(a[0].field("Content-Type"), "text/plain; charset=utf-8");
        EXPECT_EQ(a[0].field("Accept-Ranges"), "bytes");
        const std::string modified = a[0].field("Last-Modified");
        EXPECT_TRUE(http::parse_date(modified)) << modified;

        a = co_await get("/big.bin");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 200);
        EXPECT_TRUE(a[0].body == s.big()) << a[0].body.size();

        a = co_await get("/a.txt", "Range: bytes=2-5\r\n");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 206);
        EXPECT_EQ(a[0].body, "2345");
        EXPECT_EQ(a[0].field("Content-Range"), "bytes 2-5/20");
        a = co_await get("/a.txt", "Range: bytes=-3\r\n");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].body, "hij");
        a = co_await get("/big.bin", "Range: bytes=100000-\r\n");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 206);
        EXPECT_TRUE(a[0].body == s.big().substr(100000));
        a = co_await get("/a.txt", "Range: bytes=20-\r\n");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 416);
        EXPECT_EQ(a[0].field("Content-Range"), "bytes */20");

        a = co_await get("/a.txt", "If-Modified-Since: " + modified + "\r\n");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 304);
        EXPECT_EQ(a[0].body, "");
        a = co_await get("/a.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 200);

        a = co_await get("/dir");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 301);
        EXPECT_EQ(a[0].field("Location"), "/dir/");
        a = co_await get("/dir/");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 200);
        EXPECT_EQ(a[0].body, "<p>index</p>\n");
        EXPECT_EQ(a[0].field("Content-Type"), "text/html; charset=utf-8");
        a = co_await get("/empty/");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 404);
        a = co_await get("/missing.txt");
        CO_ASSERT(a.size() == 1);
        EXPECT_EQ(a[0].status, 404);

        // HEAD: the GET's fields, no body; then a GET on the same connection.
        const std::string pair = co_await exchange(
            port,
            "HEAD /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"
            "GET /a.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        const auto both = split_answers(pair, {true, false});
        CO_ASSERT(both.size() == 2);
        EXPECT_EQ(both[0].field("Content-Length"), std::to_string(s.big().size()));
        EXPECT_EQ(both[1].body, "0123456789abcdefghij");
      },
      cfg);
}

}  // namespace
}  // namespace corio::test
