// tests/sync/mutex_test.cpp: async_mutex across workers: exclusion, FIFO
// hand-off, try_lock, cancellation of a waiting lock.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "corio/sync/mutex.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class mutex_test : public runtime_test {};

template <class F>
task<void> until(F ready) {
  while (!ready()) co_await yield();
}

// A plain int, read and written across a co_await with the mutex held, by
// coroutines on both workers: TSan sees the hand-offs as happens-before.
TEST_F(mutex_test, ExcludesCoroutinesOnSeveralWorkersAcrossSuspensions) {
  constexpr int tasks = 8, rounds = 500;
  int counter = 0;
  run([](int& counter) -> task<void> {
    async_mutex m;
    scope s;
    for (int t = 0; t < tasks; ++t) {
      s.spawn([](async_mutex& m, int& counter) -> task<void> {
        for (int i = 0; i < rounds; ++i) {
          auto g = co_await m.lock();
          int seen = counter;
          co_await yield();  // suspended while holding it
          counter = seen + 1;
        }
      }(m, counter));
    }
    co_await s.join();
    EXPECT_TRUE(m.try_lock().has_value());
  }(counter));
  EXPECT_EQ(counter, tasks * rounds);
}

TEST_F(mutex_test, UnlockHandsTheMutexToWaitersInArrivalOrder) {
  run([]() -> task<void> {
    async_mutex m;
    // The order in which the waiters called lock() (spawn order, unless
    // schedule shaking runs them in another) and the order they got it.
    std::vector<int> arrived, order;
    auto held = co_await m.lock();
    scope s;
    for (int i = 0; i < 4; ++i) {
      s.spawn_local([](async_mutex& m, std::vector<int>& arrived, std::vector<int>& order,
                       int i) -> task<void> {
        arrived.push_back(i);  // and queued by the lock() below, with no suspension between
        auto g = co_await m.lock();
        order.push_back(i);
        co_await yield();
      }(m, arrived, order, i));
    }
    co_await until([&] { return m.waiting() == 4; });
    EXPECT_TRUE(order.empty());
    held.unlock();
    EXPECT_FALSE(held.owns_lock());
    // Handed over, not freed: nobody can barge in.
    EXPECT_FALSE(m.try_lock().has_value());
    co_await s.join();
    EXPECT_EQ(order, arrived);
    EXPECT_EQ(order.size(), 4u);
    EXPECT_TRUE(m.try_lock().has_value());
  }());
}

TEST_F(mutex_test, TryLockAndGuardMoves) {
  run([]() -> task<void> {
    async_mutex m;
    auto g1 = m.try_lock();
    CO_ASSERT(g1.has_value());
    EXPECT_FALSE(m.try_lock().has_value());
    async_mutex::guard moved = std::move(*g1);
    EXPECT_FALSE(g1->owns_lock());
    EXPECT_TRUE(moved.owns_lock());
    EXPECT_FALSE(m.try_lock().has_value());
    moved = async_mutex::guard{};  // unlocks
    auto g2 = m.try_lock();
    EXPECT_TRUE(g2.has_value());
  }());
}

TEST_F(mutex_test, WaitingLockIsCancelledAndNeverGetsTheMutex) {
  run([]() -> task<void> {
    async_mutex m;
    auto held = co_await m.lock();
    std::stop_source stop;
    bool cancelled = false, second = false;
    scope s;
    s.spawn([](async_mutex& m, std::stop_token tok, bool& cancelled) -> task<void> {
      auto g = co_await m.lock(tok);
      cancelled = !g && g.error() == std::errc::operation_canceled;
    }(m, stop.get_token(), cancelled));
    s.spawn_local([](async_mutex& m, bool& second) -> task<void> {
      auto g = co_await m.lock();
      second = true;
    }(m, second));
    co_await until([&] { return m.waiting() == 2; });
    std::thread([&] { stop.request_stop(); }).join();
    co_await until([&] { return m.waiting() == 1; });
    held.unlock();  // goes to the second waiter, not the cancelled one
    co_await s.join();
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(second);
    EXPECT_TRUE(m.try_lock().has_value());
  }());
}

TEST_F(mutex_test, LockWithTokenSucceedsWhenFree) {
  run([]() -> task<void> {
    async_mutex m;
    std::stop_source stop;
    auto g = co_await m.lock(stop.get_token());
    CO_ASSERT(g);
    EXPECT_TRUE(g->owns_lock());
    EXPECT_FALSE(m.try_lock().has_value());
  }());
}

}  // namespace
}  // namespace corio::test
