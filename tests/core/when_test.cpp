// tests/core/when_test.cpp: when_all and when_any.
#include <gtest/gtest.h>

#include <stdexcept>

#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class when_test : public runtime_test {};

task<int> value_after_yields(int v, int yields) {
  for (int i = 0; i < yields; ++i) co_await yield();
  co_return v;
}

TEST_F(when_test, WhenAllReturnsEveryValueInOrder) {
  auto [a, b, c] = run([]() -> task<std::tuple<int, std::monostate, int>> {
    co_return co_await when_all(value_after_yields(1, 5), []() -> task<void> { co_return; }(),
                                value_after_yields(3, 1));
  }());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(c, 3);
  (void)b;
  auto v = run([]() -> task<std::vector<int>> {
    std::vector<task<int>> ts;
    for (int i = 0; i < 10; ++i) ts.push_back(value_after_yields(i, 10 - i));
    co_return co_await when_all(std::move(ts));
  }());
  EXPECT_EQ(v, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_F(when_test, WhenAllRethrowsAfterEveryTaskFinished) {
  std::atomic<int> finished{0};
  EXPECT_THROW(run([](std::atomic<int>& finished) -> task<void> {
                 auto slow = [](std::atomic<int>& f) -> task<int> {
                   for (int i = 0; i < 20; ++i) co_await yield();
                   f.fetch_add(1);
                   co_return 1;
                 };
                 auto bad = []() -> task<int> {
                   throw std::runtime_error("bad");
                   co_return 0;
                 };
                 (void)co_await when_all(slow(finished), bad(), slow(finished));
               }(finished)),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 2);
}

// The losers wait on long timers; when_any stops them and joins them
// before it returns.
TEST_F(when_test, WhenAnyReturnsTheWinnerAfterCancellingAndJoiningTheLosers) {
  std::atomic<int> losers_cancelled{0};
  auto r = run([](std::atomic<int>& cancelled) -> task<any_result<int>> {
    auto loser = [&cancelled](int v) {
      return [&cancelled, v](std::stop_token tok) -> task<int> {
        counted alive;
        auto s = co_await with_stop(sleep_for(1h), tok);
        if (!s && s.error() == std::errc::operation_canceled) cancelled.fetch_add(1);
        co_return v;
      };
    };
    auto winner = [](std::stop_token) -> task<int> {
      co_await yield();
      co_return 42;
    };
    auto res = co_await when_any(loser(1), winner, loser(3));
    // Joined: the losers' frames are gone and each saw its cancellation.
    EXPECT_EQ(counted::live.load(), 0);
    EXPECT_EQ(cancelled.load(), 2);
    co_return res;
  }(losers_cancelled));
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.value, 42);
}

TEST_F(when_test, WhenAnyOverARangeAndOverVoidTasks) {
  auto r = run([]() -> task<any_result<void>> {
    std::vector<std::function<task<void>(std::stop_token)>> makers;
    for (int i = 0; i < 5; ++i) {
      makers.push_back([i](std::stop_token tok) -> task<void> {
        if (i != 3) (void)co_await with_stop(sleep_for(1h), tok);
      });
    }
    co_return co_await when_any(std::move(makers));
  }());
  EXPECT_EQ(r.index, 3u);
}

TEST_F(when_test, WhenAnyRethrowsTheWinnersException) {
  EXPECT_THROW(run([]() -> task<void> {
                 (void)co_await when_any(
                     [](std::stop_token) -> task<int> {
                       throw std::runtime_error("first");
                       co_return 0;
                     },
                     [](std::stop_token tok) -> task<int> {
                       (void)co_await with_stop(sleep_for(1h), tok);
                       co_return 1;
                     });
               }()),
               std::runtime_error);
}

}  // namespace
}  // namespace corio::test
