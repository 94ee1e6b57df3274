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

}  // namespace
}  // namespace corio::test
