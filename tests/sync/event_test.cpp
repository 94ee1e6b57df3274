// tests/sync/event_test.cpp: a manual-reset event: set, reset, wait, and
// cancellation of a wait.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "corio/sync/event.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class event_test : public runtime_test {};

template <class F>
task<void> until(F ready) {
  while (!ready()) co_await yield();
}

TEST_F(event_test, WaitOnASetEventCompletesAtOnce) {
  run([]() -> task<void> {
    event ev(true);
    co_await ev.wait();
    std::stop_source stop;
    auto r = co_await ev.wait(stop.get_token());
    EXPECT_TRUE(r);
    EXPECT_TRUE(ev.is_set());
  }());
}

TEST_F(event_test, SetFromAPlainThreadWakesEveryWaiterOnSeveralWorkers) {
  constexpr int n = 32;
  std::atomic<int> woken{0};
  run([](std::atomic<int>& woken) -> task<void> {
    event ev;
    scope s;
    for (int i = 0; i < n; ++i) {
      s.spawn([](event& ev, std::atomic<int>& woken) -> task<void> {
        co_await ev.wait();
        EXPECT_TRUE(ev.is_set());
        woken.fetch_add(1);
      }(ev, woken));
    }
    co_await until([&] { return ev.waiting() == n; });
    EXPECT_EQ(woken.load(), 0);
    std::thread([&] { ev.set(); }).join();
    co_await s.join();
    EXPECT_EQ(ev.waiting(), 0u);
  }(woken));
  EXPECT_EQ(woken.load(), n);
}

TEST_F(event_test, ResetMakesLaterWaitsSuspendUntilTheNextSet) {
  run([]() -> task<void> {
    event ev;
    ev.set();
    ev.reset();
    EXPECT_FALSE(ev.is_set());
    bool passed = false;
    scope s;
    s.spawn_local([](event& ev, bool& passed) -> task<void> {
      co_await ev.wait();
      passed = true;
    }(ev, passed));
    co_await yield();
    EXPECT_FALSE(passed);
    EXPECT_EQ(ev.waiting(), 1u);
    ev.set();
    ev.set();  // harmless
    co_await s.join();
    EXPECT_TRUE(passed);
  }());
}

TEST_F(event_test, WaitIsCancelledByItsStopToken) {
  run([]() -> task<void> {
    event ev;
    std::stop_source stop;
    result<void> got;
    scope s;
    s.spawn([](event& ev, std::stop_token tok, result<void>& got) -> task<void> {
      got = co_await ev.wait(tok);
    }(ev, stop.get_token(), got));
    co_await until([&] { return ev.waiting() == 1; });
    std::thread([&] { stop.request_stop(); }).join();
    co_await s.join();
    CO_ASSERT(!got);
    EXPECT_EQ(got.error(), std::errc::operation_canceled);
    EXPECT_EQ(ev.waiting(), 0u);
    ev.set();
  }());
}

// set() and a stop race from two threads: the waiter resumes exactly once,
// with one of the two outcomes.
TEST_F(event_test, StopRacingSetResumesTheWaiterExactlyOnce) {
  run(
      []() -> task<void> {
        int woken = 0, cancelled = 0;
        for (int i = 0; i < 1000; ++i) {
          event ev;
          std::stop_source stop;
          result<void> got = fail(std::errc::io_error);
          scope s;
          s.spawn([](event& ev, std::stop_token tok, result<void>& got) -> task<void> {
            got = co_await ev.wait(tok);
          }(ev, stop.get_token(), got));
          co_await until([&] { return ev.waiting() == 1; });
          std::thread a([&] { ev.set(); });
          std::thread b([&] { stop.request_stop(); });
          a.join();
          b.join();
          co_await s.join();
          if (got) {
            ++woken;
          } else {
            EXPECT_EQ(got.error(), std::errc::operation_canceled);
            ++cancelled;
          }
        }
        EXPECT_EQ(woken + cancelled, 1000);
      }(),
      std::chrono::seconds(60));
}

}  // namespace
}  // namespace corio::test
