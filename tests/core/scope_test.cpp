// tests/core/scope_test.cpp: structured lifetimes.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <thread>

#include "support/run.hpp"

namespace corio::test {
namespace {

class scope_test : public runtime_test {};

task<void> bump(std::atomic<int>& n, counted c) {
  (void)c;
  for (int i = 0; i < 3; ++i) co_await yield();
  n.fetch_add(1);
}

TEST_F(scope_test, JoinWaitsForEveryChildAndFreesTheirFrames) {
  std::atomic<int> n{0};
  run([](std::atomic<int>& n) -> task<void> {
    scope s;
    for (int i = 0; i < 1000; ++i) s.spawn(bump(n, counted{}));
    co_await s.join();
    // Every child finished and its frame (holding a counted) is gone.
    EXPECT_EQ(n.load(), 1000);
    EXPECT_EQ(counted::live.load(), 0);
    EXPECT_EQ(s.size(), 0u);
  }(n));
}

TEST_F(scope_test, JoinWithNoChildrenIsImmediate) {
  run([]() -> task<void> {
    scope s;
    co_await s.join();
    co_await s.join();
  }());
}

TEST_F(scope_test, ScopeIsReusableAfterJoin) {
  std::atomic<int> n{0};
  run([](std::atomic<int>& n) -> task<void> {
    scope s;
    s.spawn(bump(n, counted{}));
    co_await s.join();
    s.spawn_local(bump(n, counted{}));
    co_await s.join();
  }(n));
  EXPECT_EQ(n.load(), 2);
}

TEST_F(scope_test, FirstChildExceptionIsRethrownByJoinAfterAllFinish) {
  std::atomic<int> n{0};
  EXPECT_THROW(run([](std::atomic<int>& n) -> task<void> {
                 scope s;
                 s.spawn([]() -> task<void> {
                   co_await yield();
                   throw std::runtime_error("child failed");
                 }());
                 for (int i = 0; i < 10; ++i) s.spawn(bump(n, counted{}));
                 co_await s.join();
               }(n)),
               std::runtime_error);
  EXPECT_EQ(n.load(), 10);
}

TEST_F(scope_test, SpawnSpreadsChildrenOverTheWorkers) {
  if (rt.backend() == backend_kind::iocp) {
    GTEST_SKIP() << "IOCP: a spawned child goes to the shared port, and whichever worker "
                    "dequeues it runs it; there is no per-worker placement to check";
  }
  std::mutex mu;
  std::set<std::thread::id> seen;
  run([](std::mutex& mu, std::set<std::thread::id>& seen) -> task<void> {
    scope s;
    for (int i = 0; i < 8; ++i) {
      s.spawn([](std::mutex& mu, std::set<std::thread::id>& seen) -> task<void> {
        std::lock_guard lock(mu);
        seen.insert(std::this_thread::get_id());
        co_return;
      }(mu, seen));
    }
    co_await s.join();
  }(mu, seen));
  EXPECT_EQ(seen.size(), rt.threads());
}

TEST(scope_off_runtime, SpawnOffAWorkerIsAClearError) {
  scope s;
  auto t = []() -> task<void> { co_return; }();
  EXPECT_THROW(s.spawn(std::move(t)), std::logic_error);
}

}  // namespace
}  // namespace corio::test
