// tests/time/timeout_test.cpp: with_timeout, including the race where the
// operation and its timer finish at the same moment.
#include <gtest/gtest.h>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class timeout_test : public runtime_test {};

TEST_F(timeout_test, ReadWithNoDataTimesOutAndTheStreamStaysUsable) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<char, 4> buf;
    auto r = co_await with_timeout(server.read(buf), 10ms);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), errc::timed_out);
    EXPECT_EQ(r.error(), std::errc::timed_out);
    (void)co_await client.write(std::string_view("late"));
    auto n = co_await server.read_exact(std::as_writable_bytes(std::span(buf)));
    EXPECT_TRUE(n);
    EXPECT_EQ(std::string_view(buf.data(), 4), "late");
  }());
}

// A timeout too long for the clock, or time_point::max() as a deadline,
// means no deadline: no timer is armed beside the operation, and the
// operation completes as usual.
TEST_F(timeout_test, EndlessDeadlineArmsNoTimer) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<char, 4> buf;
    result<std::size_t> got = 0;
    scope s;
    s.spawn_local([](net::tcp_stream& server, std::span<char> b,
                     result<std::size_t>& got) -> task<void> {
      got = co_await with_timeout(server.read(b), std::chrono::hours::max());
    }(server, buf, got));
    s.spawn_local([](net::tcp_stream& server, std::span<char> b) -> task<void> {
      (void)co_await with_deadline(server.wait_readable(), clock::time_point::max());
      (void)b;
    }(client, buf));
    while (rt.operations_in_flight() < 2) co_await yield();
    for (int i = 0; i < 10; ++i) co_await yield();
    EXPECT_EQ(rt.operations_in_flight(), 2) << "a timer was armed";
    (void)co_await client.write(std::string_view("ping"));
    (void)co_await server.write(std::string_view("pong"));
    co_await s.join();
    CO_ASSERT(got);
    EXPECT_EQ(std::string_view(buf.data(), *got), "ping");
  }(rt));
}

TEST_F(timeout_test, OperationThatFinishesFirstWinsAndTheTimerIsReaped) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    (void)co_await client.write(std::string_view("ping"));
    std::array<char, 4> buf;
    auto r = co_await with_timeout(server.read(buf), 1h);
    CO_ASSERT(r);
    EXPECT_EQ(std::string_view(buf.data(), *r), std::string_view("ping").substr(0, *r));
    // The one-hour timer was cancelled and reaped before we resumed.
    EXPECT_EQ(rt.operations_in_flight(), 0);
  }(rt));
}

// The operation and the timer are due at the same moment, many times over:
// each wait has exactly one outcome, the coroutine resumes once, and
// nothing is left in flight.
TEST_F(timeout_test, SimultaneousCompletionAndTimeoutHaveExactlyOneOutcome) {
  std::atomic<int> ok{0}, timed_out{0};
  run([](runtime& rt, std::atomic<int>& ok, std::atomic<int>& timed_out) -> task<void> {
    scope s;
    for (int w = 0; w < 4; ++w) {
      s.spawn([](std::atomic<int>& ok, std::atomic<int>& timed_out, int w) -> task<void> {
        for (int i = 0; i < 500; ++i) {
          auto d = std::chrono::microseconds((i * 7 + w) % 200);
          auto deadline = clock::now() + d;
          auto r = co_await with_deadline(sleep_until(deadline), deadline);
          if (r) {
            ok.fetch_add(1);
          } else if (r.error() == errc::timed_out) {
            timed_out.fetch_add(1);
          } else {
            ADD_FAILURE() << r.error().message();
          }
        }
      }(ok, timed_out, w));
    }
    co_await s.join();
    EXPECT_EQ(rt.operations_in_flight(), 0);
  }(rt, ok, timed_out));
  EXPECT_EQ(ok.load() + timed_out.load(), 2000);
}

// Data arrives around the deadline: either the read gets it, or it times
// out and the next read gets it. Never both, never neither.
TEST_F(timeout_test, ReadRacingItsDeadlineLosesNoByte) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    scope s;
    s.spawn([](net::tcp_stream& c) -> task<void> {
      for (int i = 0; i < 300; ++i) {
        (void)co_await sleep_for(std::chrono::microseconds(i % 50));
        char b = static_cast<char>(i);
        auto w = co_await c.write(std::span(&b, 1));
        if (!w) co_return;
      }
      c.shutdown();
    }(client));
    int expected = 0;
    for (;;) {
      char b;
      auto r = co_await with_timeout(server.read(std::span(&b, 1)), std::chrono::microseconds(25));
      if (!r) {
        CO_ASSERT(r.error() == errc::timed_out);
        continue;
      }
      if (*r == 0) break;
      EXPECT_EQ(static_cast<unsigned char>(b), static_cast<unsigned char>(expected));
      ++expected;
    }
    EXPECT_EQ(expected, 300);
    co_await s.join();
  }());
}

TEST_F(timeout_test, CombinatorsNest) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<char, 4> buf;
    // The timeout inside a stop: the deadline fires first.
    std::stop_source never;
    auto a = co_await with_stop(with_timeout(server.read(buf), 5ms), never.get_token());
    CO_ASSERT(!a);
    EXPECT_EQ(a.error(), errc::timed_out);
    // The stop outside a long timeout: the stop wins, from another coroutine.
    std::stop_source stop;
    scope s;
    result<std::size_t> b = 0;
    s.spawn_local([](net::tcp_stream& server, std::stop_token tok, result<std::size_t>& b) -> task<void> {
      std::array<char, 4> buf;
      b = co_await with_stop(with_timeout(server.read(buf), 1h), tok);
    }(server, stop.get_token(), b));
    while (rt.operations_in_flight() < 2) co_await yield();  // the read and its timer
    stop.request_stop();
    co_await s.join();
    CO_ASSERT(!b);
    EXPECT_EQ(b.error(), std::errc::operation_canceled);
    EXPECT_EQ(rt.operations_in_flight(), 0);
  }(rt));
}

TEST_F(timeout_test, WholeTransfersAndConnectsTakeTimeoutsToo) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    // read_exact of more than will ever come: the deadline ends it.
    (void)co_await client.write(std::string_view("ab"));
    std::array<char, 4> buf;
    auto r = co_await with_timeout(server.read_exact(buf), 10ms);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), errc::timed_out);
    // write_all that completes well within its deadline.
    auto w = co_await with_timeout(client.write_all(std::string_view("cdef")), std::chrono::hours(1));
    EXPECT_TRUE(w);
    auto listener = listen_loopback();
    auto c = co_await with_timeout(net::tcp_stream::connect(net::endpoint::loopback_v4(port_of(listener))),
                                   std::chrono::hours(1));
    EXPECT_TRUE(c);
    std::stop_source stopped;
    stopped.request_stop();
    auto d = co_await with_stop(net::tcp_stream::connect(net::endpoint::loopback_v4(port_of(listener))),
                                stopped.get_token());
    CO_ASSERT(!d);
    EXPECT_EQ(d.error(), std::errc::operation_canceled);
  }());
}

}  // namespace
}  // namespace corio::test
