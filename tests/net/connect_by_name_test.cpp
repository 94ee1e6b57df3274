// tests/net/connect_by_name_test.cpp: tcp_stream::connect(host, port) and
// the address race of connect(span<const endpoint>) (RFC 8305 in outline).
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "corio/net/resolve.hpp"
#include "net/lookup.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class connect_by_name_test : public runtime_test {};

// Whether `localhost` names an address of family `af` here.
task<bool> localhost_has(net::endpoint::family af) {
  auto r = co_await net::resolve("localhost", "1");
  if (!r) co_return false;
  for (const auto& ep : *r) {
    if (ep.af() == af) co_return true;
  }
  co_return false;
}

// Connects to "localhost" with a listener bound on `at` alone, accepts, and
// checks the peer is the address asked for.
task<void> connect_by_name_to(net::endpoint at) {
  auto listener = net::tcp_listener::bind(at);
  CO_ASSERT(listener);
  const auto port = listener->local_endpoint()->port();
  auto c = co_await with_timeout(net::tcp_stream::connect("localhost", port), 20s);
  CO_ASSERT(c);
  auto peer = c->peer_endpoint();
  CO_ASSERT(peer);
  EXPECT_EQ(peer->af(), at.af());
  auto accepted = co_await listener->accept();
  CO_ASSERT(accepted);
  // Data flows: it is a real connection.
  (void)co_await c->write_all(std::string_view("hi"));
  std::array<char, 2> buf;
  auto n = co_await accepted->read_exact(buf);
  CO_ASSERT(n);
  EXPECT_EQ(std::string_view(buf.data(), 2), "hi");
}

TEST_F(connect_by_name_test, LocalhostReachesAListenerOnlyOn127001) {
  if (!run(localhost_has(net::endpoint::family::v4)))
    GTEST_SKIP() << "localhost has no IPv4 address on this host";
  run(connect_by_name_to(net::endpoint::loopback_v4(0)));
}

TEST_F(connect_by_name_test, LocalhostReachesAListenerOnlyOnV6Loopback) {
  if (!net::tcp_listener::bind(net::endpoint::loopback_v6(0)))
    GTEST_SKIP() << "no IPv6 loopback on this host (binding [::1] fails)";
  if (!run(localhost_has(net::endpoint::family::v6)))
    GTEST_SKIP() << "localhost does not name ::1 on this host (see /etc/hosts)";
  run(connect_by_name_to(net::endpoint::loopback_v6(0)));
}

TEST_F(connect_by_name_test, NumericHostsSkipThePool) {
  run([](runtime& rt) -> task<void> {
    auto listener = listen_loopback();
    auto c = co_await net::tcp_stream::connect("127.0.0.1", port_of(listener));
    CO_ASSERT(c);
    EXPECT_EQ(rt.blocking_threads(), 0u);
  }(rt));
}

TEST_F(connect_by_name_test, NamesThatAreNotNamesFail) {
  run([]() -> task<void> {
    auto c = co_await net::tcp_stream::connect(std::string(10 * 1024, 'x'), 80);
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), net::resolve_errc::invalid_name);
    auto none = co_await net::tcp_stream::connect(std::span<const net::endpoint>());
    CO_ASSERT(!none);
    EXPECT_EQ(none.error(), net::resolve_errc::no_address);
  }());
}

TEST(connect_order, FamiliesAlternateStartingWithTheFirst) {
  const auto a4 = net::endpoint::v4({10, 0, 0, 1}, 1), b4 = net::endpoint::v4({10, 0, 0, 2}, 1),
             c4 = net::endpoint::v4({10, 0, 0, 3}, 1);
  const auto a6 = net::endpoint::loopback_v6(1), b6 = net::endpoint::loopback_v6(2);
  using v = std::vector<net::endpoint>;
  EXPECT_EQ(net::detail_lookup::interleave(v{a6, b6, a4, b4, c4}), (v{a6, a4, b6, b4, c4}));
  EXPECT_EQ(net::detail_lookup::interleave(v{a4, b4, c4, a6}), (v{a4, a6, b4, c4}));
  EXPECT_EQ(net::detail_lookup::interleave(v{a4, b4}), (v{a4, b4}));
  EXPECT_TRUE(net::detail_lookup::interleave(v{}).empty());
}

// A port on 127.0.0.1 with nothing listening.
std::uint16_t closed_port() {
  auto l = listen_loopback();
  return port_of(l);  // closed as `l` goes
}

TEST_F(connect_by_name_test, EveryAttemptRefusedGivesTheError) {
  run([]() -> task<void> {
    const std::vector<net::endpoint> to{net::endpoint::loopback_v4(closed_port()),
                                        net::endpoint::loopback_v4(closed_port())};
    auto c = co_await with_timeout(net::tcp_stream::connect(to), 20s);
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::connection_refused);
  }());
}

TEST_F(connect_by_name_test, AFailedAttemptStartsTheNextAndTheFirstSuccessWins) {
  run([]() -> task<void> {
    auto listener = listen_loopback();
    const std::vector<net::endpoint> to{net::endpoint::loopback_v4(closed_port()),
                                        net::endpoint::loopback_v4(port_of(listener))};
    auto c = co_await with_timeout(net::tcp_stream::connect(to), 20s);
    CO_ASSERT(c);
    EXPECT_EQ(c->peer_endpoint()->port(), port_of(listener));
  }());
}

TEST_F(connect_by_name_test, TheRaceCrossesFamilies) {
  auto v6 = net::tcp_listener::bind(net::endpoint::loopback_v6(0));
  if (!v6) GTEST_SKIP() << "no IPv6 loopback on this host (binding [::1] fails)";
  run([](net::tcp_listener& v6) -> task<void> {
    const auto port = v6.local_endpoint()->port();
    // The IPv4 address is refused; the IPv6 one, tried next, answers.
    const std::vector<net::endpoint> to{net::endpoint::loopback_v4(closed_port()),
                                        net::endpoint::loopback_v6(port)};
    auto c = co_await with_timeout(net::tcp_stream::connect(to), 20s);
    CO_ASSERT(c);
    EXPECT_FALSE(c->peer_endpoint()->is_v4());
    // A numeric IPv6 host by "name".
    auto d = co_await with_timeout(net::tcp_stream::connect("::1", port), 20s);
    CO_ASSERT(d);
    EXPECT_EQ(*d->peer_endpoint(), net::endpoint::loopback_v6(port));
  }(*v6));
}

// A loopback address that never answers: a listener whose accept queue is
// full and never drained. Linux (and Wine on it) then drops new SYNs, so a
// connect stalls as it would towards a black hole. Empty if this host does
// not stall such a connect.
struct black_hole {
  net::tcp_listener listener;
  std::vector<net::tcp_stream> queued;  // fill the backlog; never accepted
  net::endpoint at;
};

task<std::optional<black_hole>> make_black_hole() {
  black_hole h;
  auto l = net::tcp_listener::bind(net::endpoint::loopback_v4(0), {.backlog = 0});
  EXPECT_TRUE(l);
  if (!l) co_return std::nullopt;
  h.listener = std::move(*l);
  h.at = net::endpoint::loopback_v4(port_of(h.listener));
  for (int i = 0; i < 8; ++i) {
    auto c = co_await with_timeout(net::tcp_stream::connect(h.at), 300ms);
    if (!c && c.error() == std::errc::timed_out) co_return std::move(h);  // it stalls: full
    if (!c) co_return std::nullopt;
    h.queued.push_back(std::move(*c));
  }
  co_return std::nullopt;
}

TEST_F(connect_by_name_test, AFullBacklogStallsConnects) {
  run([]() -> task<void> {
    auto hole = co_await make_black_hole();
    CO_ASSERT(hole);
    auto c = co_await with_timeout(net::tcp_stream::connect(hole->at), 300ms);
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::timed_out);
  }());
}

TEST_F(connect_by_name_test, TheRaceWinsPastAnAddressThatNeverAnswers) {
  run([]() -> task<void> {
    auto hole = co_await make_black_hole();
    CO_ASSERT(hole);
    auto listener = listen_loopback();
    const std::vector<net::endpoint> to{hole->at, net::endpoint::loopback_v4(port_of(listener))};
    // The first attempt stalls; the second starts 250 ms later beside it
    // and wins; the first is cancelled and reaped before the awaiter
    // resumes (the fixture checks that nothing is left in flight).
    auto c = co_await with_timeout(net::tcp_stream::connect(to), 20s);
    CO_ASSERT(c);
    EXPECT_EQ(c->peer_endpoint()->port(), port_of(listener));
    auto accepted = co_await listener.accept();
    EXPECT_TRUE(accepted);
  }());
}

TEST_F(connect_by_name_test, WithTimeoutBoundsTheWholeRace) {
  run([]() -> task<void> {
    auto hole = co_await make_black_hole();
    CO_ASSERT(hole);
    const std::vector<net::endpoint> to{hole->at, hole->at};
    auto c = co_await with_timeout(net::tcp_stream::connect(to), 400ms);
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::timed_out);
  }());
}

TEST_F(connect_by_name_test, WithStopCancelsTheRace) {
  run([](runtime& rt) -> task<void> {
    auto hole = co_await make_black_hole();
    CO_ASSERT(hole);
    std::stop_source stop;
    std::optional<result<net::tcp_stream>> out;
    scope s;
    s.spawn_local([](net::endpoint at, std::stop_token tok,
                     std::optional<result<net::tcp_stream>>& out) -> task<void> {
      const std::vector<net::endpoint> to{at};
      out = co_await with_stop(net::tcp_stream::connect(to), tok);
    }(hole->at, stop.get_token(), out));
    // Until the race is under way: its anchor, its wait and the attempt.
    while (rt.operations_in_flight() < 3) co_await yield();
    stop.request_stop();
    co_await s.join();
    CO_ASSERT(out && !*out);
    EXPECT_EQ(out->error(), std::errc::operation_canceled);
    // Stopped before the start: nothing is tried at all.
    auto early = co_await with_stop(net::tcp_stream::connect("localhost", 1), stop.get_token());
    CO_ASSERT(!early);
    EXPECT_EQ(early.error(), std::errc::operation_canceled);
  }(rt));
}

}  // namespace
}  // namespace corio::test
