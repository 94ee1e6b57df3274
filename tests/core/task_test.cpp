// tests/core/task_test.cpp: task<T> semantics, on and off a runtime.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

task<int> forty_two() { co_return 42; }
task<std::string> text() { co_return std::string(100, 'x'); }
task<void> nothing() { co_return; }
task<int> throws() {
  throw std::runtime_error("boom");
  co_return 0;
}
task<int> add(int a) { co_return a + co_await forty_two(); }

// Each level awaits the next; every one completes synchronously, so without
// symmetric transfer this would overflow the stack.
task<long> chain(long depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await chain(depth - 1);
}

task<void> holds_counted(counted c) {
  (void)c;
  co_return;
}

class task_test : public runtime_test {};

TEST_F(task_test, ReturnsValues) {
  EXPECT_EQ(run(forty_two()), 42);
  EXPECT_EQ(run(add(1)), 43);
  EXPECT_EQ(run(text()), std::string(100, 'x'));
  run(nothing());
}

TEST_F(task_test, PropagatesExceptionsToTheAwaiter) {
  auto caught = run([]() -> task<std::string> {
    try {
      co_await throws();
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "nothing thrown";
  }());
  EXPECT_EQ(caught, "boom");
  EXPECT_THROW(run(throws()), std::runtime_error);
}

// Sanitizer builds keep every call frame (no tail call for the symmetric
// transfer), so there the chain is only deep enough to exercise the path;
// the optimized builds prove the stack stays flat at a million levels.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long chain_depth = 1'000;
#else
constexpr long chain_depth = 1'000'000;
#endif

TEST_F(task_test, DeepSynchronousChainsDoNotGrowTheStack) {
  EXPECT_EQ(run(chain(chain_depth)), chain_depth);
}

TEST_F(task_test, UnstartedTaskFreesItsFrame) {
  {
    auto t = holds_counted(counted{});
    EXPECT_EQ(counted::live.load(), 1);
  }
  EXPECT_EQ(counted::live.load(), 0);
}

TEST_F(task_test, MovedTaskRunsOnce) {
  auto a = forty_two();
  auto b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_TRUE(b);
  EXPECT_EQ(run(std::move(b)), 42);
}

TEST_F(task_test, BlockOnFromAWorkerIsRefused) {
  EXPECT_THROW(run([](runtime& r) -> task<void> { r.block_on(nothing()); co_return; }(rt)),
               std::logic_error);
}

TEST_F(task_test, RuntimeReportsItsShape) {
  EXPECT_EQ(rt.threads(), 2u);
  EXPECT_NE(rt.backend(), backend_kind::automatic);
}

TEST_F(task_test, YieldResumesOnTheSameWorker) {
  auto same = run([]() -> task<bool> {
    auto before = std::this_thread::get_id();
    for (int i = 0; i < 100; ++i) co_await yield();
    co_return before == std::this_thread::get_id();
  }());
  EXPECT_TRUE(same);
}

// A worker with coroutines ready to run looks at the kernel only every few
// turns; a coroutine that yields in a loop must still not keep a read or a
// timer on the same worker from completing.
TEST_F(task_test, AYieldingCoroutineCannotStarveIoOrTimers) {
  constexpr int spin_limit = 10'000'000;
  auto spins = run([]() -> task<int> {
    auto [client, server] = co_await connected_pair();
    bool done = false;
    int spins = 0;
    scope s;
    s.spawn_local([](bool& stop, int& count) -> task<void> {
      while (!stop && count < spin_limit) {
        ++count;
        co_await yield();
      }
    }(done, spins));
    (void)co_await client.write(std::string_view("x"));
    std::array<char, 1> b;
    auto n = co_await server.read(b);
    auto t = co_await sleep_for(std::chrono::milliseconds(1));
    done = true;
    co_await s.join();
    EXPECT_TRUE(n && *n == 1);
    EXPECT_TRUE(t);
    co_return spins;
  }());
  EXPECT_LT(spins, spin_limit) << "the read or the timer waited for the spinner to give up";
}

}  // namespace
}  // namespace corio::test
