// tests/time/limits_test.cpp: timers at the edges of the clock's types, and
// the order of timers due at the same moment.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "corio/corio.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class limits_test : public runtime_test {};

// Sleeps that are never due (their sum with now() overflows the clock) stay
// pending without stopping a short timer on the same worker, and are
// cancelled, not fired, when their scope stops.
TEST_F(limits_test, SleepsPastTheClocksRangeNeverFireAndDoNotStopOthers) {
  run([]() -> task<void> {
    int fired = 0, cancelled = 0;
    scope s;
    auto wait = [](auto sleep, std::stop_token stop, int& fired, int& cancelled) -> task<void> {
      auto r = co_await with_stop(std::move(sleep), std::move(stop));
      if (r) {
        ++fired;
      } else if (r.error() == std::errc::operation_canceled) {
        ++cancelled;
      }
    };
    s.spawn_local(wait(sleep_for(clock::duration::max()), s.token(), fired, cancelled));
    s.spawn_local(wait(sleep_for(std::chrono::hours::max()), s.token(), fired, cancelled));
    s.spawn_local(wait(sleep_for(std::chrono::duration<double>(1e300)), s.token(), fired, cancelled));
    s.spawn_local(wait(sleep_until(clock::time_point::max()), s.token(), fired, cancelled));
    s.spawn_local(wait(sleep_for(clock::duration::max() - 1ns), s.token(), fired, cancelled));
    auto short_one = co_await sleep_for(1ms);
    EXPECT_TRUE(short_one);
    EXPECT_EQ(fired, 0) << "a sleep that long fired";
    s.request_stop();
    co_await s.join();
    EXPECT_EQ(fired, 0);
    EXPECT_EQ(cancelled, 5);
  }());
}

// Deadlines in the far past (time_point::min(), negative durations of every
// magnitude) are due at once.
TEST_F(limits_test, DeadlinesInTheFarPastAreDueAtOnce) {
  run([]() -> task<void> {
    EXPECT_TRUE(co_await sleep_until(clock::time_point::min()));
    EXPECT_TRUE(co_await sleep_for(clock::duration::min()));
    EXPECT_TRUE(co_await sleep_for(std::chrono::hours::min()));
    EXPECT_TRUE(co_await sleep_for(-1s));
    EXPECT_TRUE(co_await sleep_for(std::chrono::duration<double>(-1e300)));
    // And a timer started after them still works.
    EXPECT_TRUE(co_await sleep_for(1ms));
  }());
}

// with_timeout with a timeout too long for the clock arms no timer; a
// deadline in the far past times out at once.
TEST_F(limits_test, TimeoutsAtTheLimits) {
  run([]() -> task<void> {
    auto ok = co_await with_timeout(sleep_for(1ms), clock::duration::max());
    EXPECT_TRUE(ok);
    ok = co_await with_timeout(sleep_for(1ms), std::chrono::hours::max());
    EXPECT_TRUE(ok);
    auto late = co_await with_deadline(sleep_for(1h), clock::time_point::min());
    CO_ASSERT(!late);
    EXPECT_EQ(late.error(), std::errc::timed_out);
    late = co_await with_timeout(sleep_for(1h), std::chrono::hours::min());
    CO_ASSERT(!late);
    EXPECT_EQ(late.error(), std::errc::timed_out);
  }());
}

// Timers due at the same moment fire in the order they were started.
TEST_F(limits_test, EqualDeadlinesFireInTheOrderTheyWereStarted) {
  run([]() -> task<void> {
    constexpr int count = 200;
    const auto at = clock::now() + 5ms;
    std::vector<int> order;
    scope s;
    for (int i = 0; i < count; ++i) {
      s.spawn_local([](clock::time_point at, int i, std::vector<int>& order) -> task<void> {
        EXPECT_TRUE(co_await sleep_until(at));
        order.push_back(i);
      }(at, i, order));
      // Each child starts its timer before the next one is spawned.
      co_await yield();
    }
    co_await s.join();
    CO_ASSERT(order.size() == static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) EXPECT_EQ(order[i], i);
  }());
}

}  // namespace
}  // namespace corio::test
