// tests/kv/kv_server_test.cpp: the kv server over corio sockets, on every
// backend (io_uring, epoll, IOCP): pipelining, 200 clients at once, bad
// input that must not hurt anyone else, requests over the size limit,
// pub/sub fan-out to 100 subscribers with a slow one cut off, QUIT, and
// shutdown.
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv_server/resp.hpp"
#include "kv_server/server.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class KvServer : public runtime_test {};

// The length of the RESP2 value at the front of `s`, 0 if it is not all there.
std::size_t value_length(std::string_view s) {
  if (s.empty()) return 0;
  const auto eol = s.find("\r\n");
  if (eol == std::string_view::npos) return 0;
  const std::size_t head = eol + 2;
  if (s[0] == '+' || s[0] == '-' || s[0] == ':') return head;
  const long n = std::stol(std::string(s.substr(1, eol - 1)));
  if (s[0] == '$') {
    if (n < 0) return head;
    return s.size() >= head + static_cast<std::size_t>(n) + 2 ? head + static_cast<std::size_t>(n) + 2 : 0;
  }
  std::size_t at = head;  // '*'
  for (long i = 0; i < n; ++i) {
    const auto len = value_length(s.substr(at));
    if (len == 0) return 0;
    at += len;
  }
  return at;
}

// A multibulk request. Variadic rather than an initializer_list: GCC 12
// mishandles initializer_list arrays in coroutine frames.
template <class... A>
std::string command(const A&... args) {
  std::string out;
  kv::reply::array(out, sizeof...(args));
  (kv::reply::bulk(out, std::string_view(args)), ...);
  return out;
}

class client {
 public:
  explicit client(net::tcp_stream s) : stream_(std::move(s)) {}
  static task<std::unique_ptr<client>> connect(std::uint16_t port) {
    auto s = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
    EXPECT_TRUE(s) << s.error().message();
    co_return std::make_unique<client>(s ? std::move(*s) : net::tcp_stream{});
  }
  task<bool> send(std::string_view bytes) {
    auto r = co_await stream_.write_all(std::as_bytes(std::span(bytes)));
    co_return r.has_value();
  }
  // The next whole reply, or nullopt at EOF / on an error.
  task<std::optional<std::string>> reply() {
    for (;;) {
      if (auto n = value_length(std::string_view(buf_).substr(pos_))) {
        std::string r = buf_.substr(pos_, n);
        pos_ += n;
        co_return r;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      std::array<char, 16384> chunk;
      auto n = co_await stream_.read(chunk);
      if (!n || *n == 0) co_return std::nullopt;
      buf_.append(chunk.data(), *n);
    }
  }
  task<std::string> ask(std::string_view request) {
    EXPECT_TRUE(co_await send(request));
    auto r = co_await reply();
    co_return r.value_or("<closed>");
  }
  // True once the server closed the connection (EOF or reset), with
  // nothing but `allowed` replies before that.
  task<bool> closed() {
    for (;;) {
      std::array<char, 16384> chunk;
      auto n = co_await stream_.read(chunk);
      if (!n || *n == 0) co_return true;
    }
  }
  net::tcp_stream& stream() { return stream_; }

 private:
  net::tcp_stream stream_;
  std::string buf_;
  std::size_t pos_ = 0;
};

class test_server {
 public:
  explicit test_server(kv::options o = {}) : srv(o), listener_(listen_loopback()) {}
  std::uint16_t port() const { return port_of(listener_); }
  void start(scope& s) { s.spawn(srv.serve(listener_, stop_.get_token())); }
  void stop() { stop_.request_stop(); }
  kv::server srv;

 private:
  net::tcp_listener listener_;
  std::stop_source stop_;
};

TEST_F(KvServer, PipelinedRequestsAreAnsweredInOrder) {
  test_server server;
  run([&]() -> task<void> {
    scope s;
    server.start(s);
    auto c = co_await client::connect(server.port());
    // Multibulk and inline requests in one write, the last one split.
    std::string batch = command("SET", "a", "1") + "INCR a\r\nGET a\r\n" + command("PING") +
                        "*2\r\n$4\r\nECHO\r\n$5\r\nhel";
    EXPECT_TRUE(co_await c->send(batch));
    const std::array<std::string_view, 4> wants = {"+OK\r\n", ":2\r\n", "$1\r\n2\r\n", "+PONG\r\n"};
    for (auto want : wants) {
      EXPECT_EQ((co_await c->reply()).value_or("<closed>"), want);
    }
    EXPECT_TRUE(co_await c->send("lo\r\n"));
    EXPECT_EQ((co_await c->reply()).value_or("<closed>"), "$5\r\nhello\r\n");
    EXPECT_EQ(co_await c->ask("QUIT\r\n"), "+OK\r\n");
    EXPECT_TRUE(co_await c->closed());
    server.stop();
    co_await s.join();
  }());
}

TEST_F(KvServer, TwoHundredClientsPipeliningSetAndGet) {
  test_server server;
  constexpr int clients = 200, keys = 50, depth = 10;
  run([&]() -> task<void> {
    scope s;
    server.start(s);
    scope load;
    for (int c = 0; c < clients; ++c) {
      load.spawn([](std::uint16_t port, int id) -> task<void> {
        auto cl = co_await client::connect(port);
        for (int k = 0; k < keys; k += depth) {
          std::string batch;
          for (int i = k; i < k + depth; ++i) {
            const auto key = "c" + std::to_string(id) + ":" + std::to_string(i);
            batch += command("SET", key, "v" + std::to_string(id * 1000 + i));
            batch += command("GET", key);
          }
          EXPECT_TRUE(co_await cl->send(batch));
          for (int i = k; i < k + depth; ++i) {
            EXPECT_EQ((co_await cl->reply()).value_or("<closed>"), "+OK\r\n");
            const auto v = "v" + std::to_string(id * 1000 + i);
            EXPECT_EQ((co_await cl->reply()).value_or("<closed>"),
                      "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n");
          }
        }
      }(server.port(), c));
    }
    co_await load.join();
    // Every key holds what its client wrote.
    auto check = co_await client::connect(server.port());
    EXPECT_EQ(co_await check->ask(command("DBSIZE")), ":" + std::to_string(clients * keys) + "\r\n");
    for (int c = 0; c < clients; c += 7) {
      for (int i = 0; i < keys; i += 3) {
        const auto v = "v" + std::to_string(c * 1000 + i);
        EXPECT_EQ(co_await check->ask(command("GET", "c" + std::to_string(c) + ":" + std::to_string(i))),
                  "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n");
      }
    }
    server.stop();
    co_await s.join();
  }());
}

TEST_F(KvServer, ProtocolErrorClosesOnlyThatConnection) {
  test_server server;
  run([&]() -> task<void> {
    scope s;
    server.start(s);
    auto good = co_await client::connect(server.port());
    EXPECT_EQ(co_await good->ask(command("SET", "k", "v")), "+OK\r\n");
    const std::array<std::string_view, 4> bads = {"*1\r\n+foo\r\n", "*x\r\n", "GET \"open\r\n",
                                                 "*1\r\n$-2\r\n"};
    for (auto bad : bads) {
      auto c = co_await client::connect(server.port());
      auto r = co_await c->ask(bad);
      EXPECT_TRUE(r.starts_with("-ERR Protocol error: ")) << r;
      EXPECT_TRUE(co_await c->closed());
    }
    // Unknown commands and wrong arity are answered, and the connection stays.
    EXPECT_EQ(co_await good->ask(command("NOPE")),
              "-ERR unknown command 'NOPE', with args beginning with: \r\n");
    EXPECT_EQ(co_await good->ask(command("GET")), "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT_EQ(co_await good->ask(command("GET", "k")), "$1\r\nv\r\n");
    server.stop();
    co_await s.join();
  }());
}

TEST_F(KvServer, RequestOverTheLimitClosesTheConnection) {
  kv::options o;
  o.max_request = 64 * 1024;
  test_server server(o);
  run([&]() -> task<void> {
    scope s;
    server.start(s);
    auto other = co_await client::connect(server.port());
    // A bulk announced larger than the limit: closed without waiting for it.
    auto big = co_await client::connect(server.port());
    EXPECT_TRUE(co_await big->send("*2\r\n$3\r\nGET\r\n$1000000\r\n"));
    EXPECT_TRUE(co_await big->closed());
    // Many small arguments adding up past the limit: closed as well.
    auto many = co_await client::connect(server.port());
    std::string chunk;
    for (int i = 0; i < 1000; ++i) chunk += "$3\r\nabc\r\n";
    (void)co_await many->send("*100000\r\n$3\r\nDEL\r\n");
    for (int i = 0; i < 20; ++i) {
      if (!co_await many->send(chunk)) break;  // the server may have closed already
    }
    EXPECT_TRUE(co_await many->closed());
    // A request just under the limit is served.
    const std::string value(60 * 1024, 'x');
    EXPECT_EQ(co_await other->ask(command("SET", "v", value)), "+OK\r\n");
    EXPECT_EQ(co_await other->ask(command("STRLEN", "v")), ":61440\r\n");
    server.stop();
    co_await s.join();
  }());
}

TEST_F(KvServer, PubSubFanOutAndASlowSubscriberIsCutOff) {
  kv::options o;
  o.pubsub_limit = 64 * 1024;
  test_server server(o);
  constexpr int subscribers = 100;  // the last one never reads
  run([&]() -> task<void> {
    scope s;
    server.start(s);
    std::vector<std::unique_ptr<client>> subs;
    for (int i = 0; i < subscribers; ++i) {
      subs.push_back(co_await client::connect(server.port()));
      EXPECT_EQ(co_await subs.back()->ask(command("SUBSCRIBE", "news")),
                "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    }
    auto& slow = *subs.back();
    auto pub = co_await client::connect(server.port());
    const std::string payload(8 * 1024, 'p');
    int published = 0, cut_at = -1;
    // Publish until the slow one is cut (the kernel's socket buffers take a
    // few MB first), every fast subscriber reading each message as it goes.
    while (cut_at < 0 && published < 5000) {
      const auto tag = std::to_string(published);
      const auto r = co_await pub->ask(command("PUBLISH", "news", tag + payload));
      const auto m = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$" + std::to_string(tag.size() + payload.size()) +
                     "\r\n" + tag + payload + "\r\n";
      if (r == ":" + std::to_string(subscribers - 1) + "\r\n") {
        cut_at = published;
      } else {
        EXPECT_EQ(r, ":" + std::to_string(subscribers) + "\r\n");
        if (r != ":" + std::to_string(subscribers) + "\r\n") break;
      }
      for (int i = 0; i + 1 < subscribers; ++i) {
        auto got = co_await subs[static_cast<std::size_t>(i)]->reply();
        if (got != m) {
          ADD_FAILURE() << "subscriber " << i << " message " << published;
          co_return;
        }
      }
      ++published;
    }
    EXPECT_GE(cut_at, 1);
    // The slow one gets what was queued before the cut, in order, then EOF.
    int received = 0;
    while (auto r = co_await slow.reply()) {
      if (received == 0) {
        EXPECT_EQ(*r, "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$" + std::to_string(1 + payload.size()) +
                          "\r\n0" + payload + "\r\n");
      }
      EXPECT_NE(r->find("\r\n" + std::to_string(received) + "ppp"), std::string::npos);
      ++received;
    }
    EXPECT_LE(received, cut_at);
    EXPECT_EQ(server.srv.state().pubsub_disconnects.load(), 1u);
    // The others still receive, and may leave subscribed mode.
    EXPECT_EQ(co_await pub->ask(command("PUBLISH", "news", "last")), ":99\r\n");
    EXPECT_EQ((co_await subs[0]->reply()).value_or(""), "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$4\r\nlast\r\n");
    EXPECT_EQ(co_await subs[0]->ask(command("UNSUBSCRIBE")),
              "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n");
    EXPECT_EQ(co_await subs[0]->ask(command("SET", "k", "v")), "+OK\r\n");
    EXPECT_EQ((co_await subs[1]->reply()).value_or(""), "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$4\r\nlast\r\n");
    EXPECT_EQ(co_await subs[1]->ask(command("QUIT")), "+OK\r\n");
    EXPECT_TRUE(co_await subs[1]->closed());
    server.stop();
    co_await s.join();
  }(), 60s);
}

TEST_F(KvServer, PatternSubscriptionsAndPublishCounts) {
  test_server server;
  run([&]() -> task<void> {
    scope s;
    server.start(s);
    auto a = co_await client::connect(server.port());
    auto b = co_await client::connect(server.port());
    auto pub = co_await client::connect(server.port());
    EXPECT_EQ(co_await a->ask(command("PSUBSCRIBE", "news.*")),
              "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
    EXPECT_EQ(co_await b->ask(command("SUBSCRIBE", "news.art")),
              "*3\r\n$9\r\nsubscribe\r\n$8\r\nnews.art\r\n:1\r\n");
    EXPECT_EQ(co_await pub->ask(command("PUBLISH", "news.art", "x")), ":2\r\n");
    EXPECT_EQ(co_await pub->ask(command("PUBLISH", "news.tech", "y")), ":1\r\n");
    EXPECT_EQ(co_await pub->ask(command("PUBLISH", "other", "z")), ":0\r\n");
    EXPECT_EQ((co_await a->reply()).value_or(""),
              "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$8\r\nnews.art\r\n$1\r\nx\r\n");
    EXPECT_EQ((co_await a->reply()).value_or(""),
              "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$9\r\nnews.tech\r\n$1\r\ny\r\n");
    EXPECT_EQ((co_await b->reply()).value_or(""), "*3\r\n$7\r\nmessage\r\n$8\r\nnews.art\r\n$1\r\nx\r\n");
    EXPECT_EQ(co_await a->ask(command("GET", "k")),
              "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
              "are allowed in this context\r\n");
    EXPECT_EQ(co_await a->ask("PING\r\n"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    // A subscriber that disconnects is no longer counted.
    b->stream().close();
    std::string r;
    for (int i = 0; i < 1000 && r != ":1\r\n"; ++i) {
      r = co_await pub->ask(command("PUBLISH", "news.art", "w"));
      if (r != ":1\r\n") co_await yield();
    }
    EXPECT_EQ(r, ":1\r\n");
    server.stop();
    co_await s.join();
  }());
}

// The server's timer collects expired keys that nobody reads: with an
// injected clock moved past their deadline, DBSIZE (which touches no key)
// drops to what is left once the active expiry has run.
TEST_F(KvServer, ActiveExpiryRunsOnTheServersTimer) {
  std::atomic<std::int64_t> now{5'000'000};
  kv::options o;
  o.expire_period = 1ms;
  kv::server srv(o, [&now] { return now.load(); });
  auto listener = listen_loopback();
  std::stop_source stop;
  run([&]() -> task<void> {
    scope s;
    s.spawn(srv.serve(listener, stop.get_token()));
    auto c = co_await client::connect(port_of(listener));
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(co_await c->ask(command("SET", "k" + std::to_string(i), "v", "PX", "50")), "+OK\r\n");
    }
    EXPECT_EQ(co_await c->ask(command("SET", "stays", "v")), "+OK\r\n");
    EXPECT_EQ(co_await c->ask(command("DBSIZE")), ":101\r\n");
    now += 51;
    std::string size;
    const auto deadline = clock::now() + 20s;  // bounds the test; the timer fires every 1 ms
    while (size != ":1\r\n" && clock::now() < deadline) {
      size = co_await c->ask(command("DBSIZE"));
      if (size != ":1\r\n") (void)co_await sleep_for(1ms);
    }
    EXPECT_EQ(size, ":1\r\n");
    EXPECT_EQ(srv.state().db.expired_keys(), 100u);
    stop.request_stop();
    co_await s.join();
  }());
}

TEST_F(KvServer, ShutdownClosesIdleAndSubscribedClients) {
  test_server server;
  run([&]() -> task<void> {
    scope s;
    server.start(s);
    auto idle = co_await client::connect(server.port());
    auto sub = co_await client::connect(server.port());
    EXPECT_EQ(co_await idle->ask("PING\r\n"), "+PONG\r\n");
    EXPECT_EQ(co_await sub->ask(command("SUBSCRIBE", "c")), "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    server.stop();
    co_await s.join();
    EXPECT_TRUE(co_await idle->closed());
    EXPECT_TRUE(co_await sub->closed());
    EXPECT_EQ(server.srv.state().connected.load(), 0);
  }());
}

}  // namespace
}  // namespace corio::test
