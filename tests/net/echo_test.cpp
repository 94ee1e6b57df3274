// tests/net/echo_test.cpp: bytes go through intact, at scale.
#include <gtest/gtest.h>

#include <random>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class echo_test : public runtime_test {};

// Echoes until EOF, then closes.
task<void> echo(net::tcp_stream s) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return;
    auto w = co_await s.write_all(std::span(buf).first(*n));
    if (!w) co_return;
  }
}

TEST_F(echo_test, OneMebibyteInRandomChunksComesBackIntact) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    scope s;
    s.spawn(echo(std::move(server)));
    const auto data = random_bytes(1 << 20, 7);
    std::vector<std::byte> back(data.size());
    auto [rd, wr] = client.split();
    // Write in random chunk sizes from one child while reading back here.
    s.spawn([](net::write_half wr, const std::vector<std::byte>& data) -> task<void> {
      std::mt19937 gen(11);
      std::size_t off = 0;
      while (off < data.size()) {
        std::size_t n = std::min<std::size_t>(data.size() - off, 1 + gen() % 65536);
        auto r = co_await wr.write_all(std::span(data).subspan(off, n));
        EXPECT_TRUE(r) << r.error().message();
        if (!r) co_return;
        off += n;
      }
    }(wr, data));
    std::mt19937 gen(13);
    std::size_t got = 0;
    while (got < back.size()) {
      std::size_t want = std::min<std::size_t>(back.size() - got, 1 + gen() % 50000);
      auto n = co_await rd.read(std::span(back).subspan(got, want));
      EXPECT_TRUE(n && *n > 0);
      if (!n || *n == 0) break;
      got += *n;
    }
    EXPECT_EQ(got, data.size());
    EXPECT_TRUE(back == data) << "echoed bytes differ";
    client.shutdown();
    co_await s.join();
  }());
}

TEST_F(echo_test, ThousandConcurrentConnectionsOnTwoWorkers) {
  constexpr int connections = 1000;
  std::atomic<int> verified{0};
  run(
      [](std::atomic<int>& verified) -> task<void> {
        auto listener = listen_loopback();
        auto to = net::endpoint::loopback_v4(port_of(listener));
        scope servers, clients;
        for (int i = 0; i < connections; ++i) {
          clients.spawn([](net::endpoint to, int i, std::atomic<int>& verified) -> task<void> {
            auto s = co_await net::tcp_stream::connect(to);
            EXPECT_TRUE(s) << s.error().message();
            if (!s) co_return;
            auto data = random_bytes(1000 + i, static_cast<std::uint32_t>(i));
            auto w = co_await s->write_all(data);
            EXPECT_TRUE(w);
            std::vector<std::byte> back(data.size());
            auto r = co_await s->read_exact(back);
            EXPECT_TRUE(r) << r.error().message();
            if (r && back == data) verified.fetch_add(1);
          }(to, i, verified));
        }
        for (int i = 0; i < connections; ++i) {
          auto accepted = co_await listener.accept();
          EXPECT_TRUE(accepted) << accepted.error().message();
          if (!accepted) break;
          servers.spawn(echo(std::move(*accepted)));
        }
        co_await clients.join();
        co_await servers.join();
      }(verified),
      std::chrono::seconds(50));
  EXPECT_EQ(verified.load(), connections);
}

TEST_F(echo_test, OrderlyCloseReadsAsZeroBytes) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    client.shutdown();
    std::array<char, 16> buf;
    auto n = co_await server.read(buf);
    CO_ASSERT(n);
    EXPECT_EQ(*n, 0u);
  }());
}

TEST_F(echo_test, EndpointsAndNodelay) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    EXPECT_TRUE(client.set_nodelay(true));
    auto local = client.local_endpoint();
    auto peer = server.peer_endpoint();
    CO_ASSERT(local && peer);
    EXPECT_EQ(*local, *peer);
    EXPECT_EQ(peer->address_string(), "127.0.0.1");
  }());
}

TEST_F(echo_test, Ipv6Loopback) {
  auto bound = net::tcp_listener::bind(net::endpoint::loopback_v6(0));
  if (!bound) GTEST_SKIP() << "no IPv6 loopback here: " << bound.error().message();
  run([](net::tcp_listener listener) -> task<void> {
    auto port = listener.local_endpoint()->port();
    auto c = co_await net::tcp_stream::connect(net::endpoint::loopback_v6(port));
    CO_ASSERT(c);
    auto s = co_await listener.accept();
    CO_ASSERT(s);
    auto w = co_await c->write(std::string_view("v6"));
    EXPECT_TRUE(w);
    std::array<char, 2> buf;
    auto r = co_await s->read_exact(std::as_writable_bytes(std::span(buf)));
    EXPECT_TRUE(r);
    EXPECT_EQ(std::string_view(buf.data(), 2), "v6");
    EXPECT_EQ(s->peer_endpoint()->address_string(), "::1");
  }(std::move(*bound)));
}

}  // namespace
}  // namespace corio::test
