// tests/net/connect_from_test.cpp: tcp_stream::connect(to, from) binds the
// source address before connecting; a bind that fails is the connect's
// error, never a crash, and sends nothing.
#include <gtest/gtest.h>

#include <array>
#include <chrono>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class connect_from_test : public runtime_test {};

// Connects from `from` to a fresh listener on `listen_at`, accepts, and
// checks that the server sees `from`'s address as its peer, that the
// client's own endpoint is that peer, and that a byte goes through.
task<void> connect_and_check(net::endpoint listen_at, net::endpoint from) {
  auto listener = net::tcp_listener::bind(listen_at);
  CO_ASSERT(listener);
  auto to = *listener->local_endpoint();
  auto client = co_await net::tcp_stream::connect(to, from);
  CO_ASSERT(client);
  auto server = co_await listener->accept();
  CO_ASSERT(server);

  auto peer = server->peer_endpoint();
  auto local = client->local_endpoint();
  CO_ASSERT(peer && local);
  EXPECT_EQ(peer->address_string(), from.address_string());
  EXPECT_NE(peer->port(), 0);
  EXPECT_EQ(*peer, *local);

  std::array<std::byte, 1> out{std::byte{42}}, in{};
  CO_ASSERT(co_await client->write_all(out));
  CO_ASSERT(co_await server->read_exact(in));
  EXPECT_EQ(in[0], std::byte{42});
}

TEST_F(connect_from_test, FromLoopbackTheServerSeesThatAddress) {
  run(connect_and_check(net::endpoint::loopback_v4(0), *net::endpoint::parse("127.0.0.1", 0)));
}

#if defined(__linux__)
// All of 127.0.0.0/8 is local on Linux: what echo_client's idle mode uses to
// go past one source address's ephemeral ports.
TEST_F(connect_from_test, FromAnotherLoopbackAddressTheServerSeesIt) {
  run(connect_and_check(net::endpoint::loopback_v4(0), *net::endpoint::parse("127.0.0.2", 0)));
}

// Several sockets bound to the same address with port 0 (so with
// IP_BIND_ADDRESS_NO_PORT, which leaves the port to connect) all connect,
// to either of two destinations. That one port then serves several
// destinations is the kernel's business; bench/scale.sh shows it at scale.
TEST_F(connect_from_test, SeveralConnectsFromOneAddressToTwoListeners) {
  run([]() -> task<void> {
    auto a = listen_loopback();
    auto b = listen_loopback();
    const auto from = *net::endpoint::parse("127.0.0.3", 0);
    std::array<net::tcp_stream, 8> conns;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto to = net::endpoint::loopback_v4(port_of(i % 2 ? b : a));
      auto c = co_await net::tcp_stream::connect(to, from);
      CO_ASSERT(c);
      conns[i] = std::move(*c);
    }
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto s = co_await (i % 2 ? b : a).accept();
      CO_ASSERT(s);
      EXPECT_EQ(s->peer_endpoint()->address_string(), "127.0.0.3");
    }
  }());
}
#endif

TEST_F(connect_from_test, FromIpv6LoopbackWhereThereIsOne) {
  if (!net::tcp_listener::bind(net::endpoint::loopback_v6(0)))
    GTEST_SKIP() << "no IPv6 loopback on this machine";
  run(connect_and_check(net::endpoint::loopback_v6(0), net::endpoint::loopback_v6(0)));
}

TEST_F(connect_from_test, FromAnAddressThatIsNotLocalIsAnError) {
  auto listener = listen_loopback();
  run([](std::uint16_t port) -> task<void> {
    // TEST-NET-1 (RFC 5737): never assigned to a host, never routed; the
    // bind fails, so no packet is sent.
    auto c = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port),
                                               *net::endpoint::parse("192.0.2.1", 0));
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::address_not_available) << c.error().message();
  }(port_of(listener)));
}

TEST_F(connect_from_test, FromAPortInUseIsAnError) {
  auto listener = listen_loopback();
  run([](std::uint16_t port) -> task<void> {
    auto c = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port),
                                               net::endpoint::loopback_v4(port));
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::address_in_use) << c.error().message();
  }(port_of(listener)));
}

TEST_F(connect_from_test, FromTheOtherFamilyIsAnError) {
  auto listener = listen_loopback();
  run([](std::uint16_t port) -> task<void> {
    auto c = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port),
                                               net::endpoint::loopback_v6(0));
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::address_family_not_supported) << c.error().message();
  }(port_of(listener)));
}

// The bind error comes back through a combinator too: start() finishes at
// once, and with_timeout's timer never matters.
TEST_F(connect_from_test, ABindErrorPassesThroughWithTimeout) {
  auto listener = listen_loopback();
  run([](std::uint16_t port) -> task<void> {
    auto c = co_await with_timeout(net::tcp_stream::connect(net::endpoint::loopback_v4(port),
                                                            *net::endpoint::parse("192.0.2.1", 0)),
                                   10s);
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::address_not_available) << c.error().message();
  }(port_of(listener)));
}

}  // namespace
}  // namespace corio::test
