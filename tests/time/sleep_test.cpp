// tests/time/sleep_test.cpp: sleeping on the backend's timer.
#include <gtest/gtest.h>

#include "support/run.hpp"

namespace corio::test {
namespace {

class sleep_test : public runtime_test {};

TEST_F(sleep_test, SleepUntilReturnsNoEarlierThanTheDeadline) {
  run([]() -> task<void> {
    auto deadline = clock::now() + std::chrono::milliseconds(20);
    auto r = co_await sleep_until(deadline);
    EXPECT_TRUE(r) << r.error().message();
    // The only ordering a timer promises: never before its deadline.
    EXPECT_GE(clock::now(), deadline);
  }());
}

TEST_F(sleep_test, PastDeadlineCompletesAtOnce) {
  run([]() -> task<void> {
    auto r = co_await sleep_until(clock::now() - std::chrono::seconds(1));
    EXPECT_TRUE(r);
  }());
}

TEST_F(sleep_test, ManyConcurrentSleepsAllComplete) {
  std::atomic<int> done{0};
  run([](std::atomic<int>& done) -> task<void> {
    scope s;
    for (int i = 0; i < 2000; ++i) {
      s.spawn([](std::atomic<int>& done, int i) -> task<void> {
        auto r = co_await sleep_for(std::chrono::microseconds(i % 500));
        if (r) done.fetch_add(1);
      }(done, i));
    }
    co_await s.join();
  }(done));
  EXPECT_EQ(done.load(), 2000);
}

}  // namespace
}  // namespace corio::test
