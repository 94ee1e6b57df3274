// tests/core/spawn_test.cpp: runtime::spawn from any thread, join handles,
// the root scope and runtime::shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define CORIO_TEST_LSAN 1
#endif

#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class spawn_test : public runtime_test {};

// latch's interface on a mutex and a condition variable: GCC 12's
// latch waits through libstdc++'s atomic-wait pool where there is no
// futex (mingw-w64), and a wake-up was seen lost there under Wine.
class latch {
 public:
  explicit latch(int count) : count_(count) {}
  void count_down() {
    std::lock_guard lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return count_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
};

task<int> answer(counted c = {}) {
  (void)c;
  co_await yield();
  co_return 42;
}

task<int> fails() {
  co_await yield();
  throw std::runtime_error("boom");
}

TEST_F(spawn_test, SpawnFromAPlainThreadAndWait) {
  watchdog dog(30s);
  auto h = rt.spawn(answer());
  auto r = h.wait();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 42);
  EXPECT_FALSE(h) << "wait() takes the result; the handle is empty afterwards";
  EXPECT_EQ(h.wait().error(), errc::not_open);
}

TEST_F(spawn_test, SpawnFromManyPlainThreads) {
  watchdog dog(30s);
  std::atomic<int> sum{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto r = rt.spawn(answer()).wait();
        if (r) sum.fetch_add(*r);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum.load(), 4 * 100 * 42);
}

TEST_F(spawn_test, AwaitAHandleInsideTheRuntime) {
  run([](runtime& rt) -> task<void> {
    auto h = rt.spawn(answer());  // spawned from a worker
    auto r = co_await h;
    CO_ASSERT(r.has_value());
    EXPECT_EQ(*r, 42);
    auto again = co_await h;  // taken: the handle is empty
    EXPECT_EQ(again.error(), errc::not_open);
    auto direct = co_await rt.spawn(answer());
    CO_ASSERT(direct.has_value());
    EXPECT_EQ(*direct, 42);
  }(rt));
}

TEST_F(spawn_test, ExceptionsTravelThroughHandles) {
  watchdog dog(30s);
  auto h = rt.spawn(fails());
  EXPECT_THROW((void)h.wait(), std::runtime_error);
  run([](runtime& rt) -> task<void> {
    auto inner = rt.spawn(fails());
    bool caught = false;
    try {
      (void)co_await inner;
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "boom";
    }
    EXPECT_TRUE(caught);
  }(rt));
}

TEST_F(spawn_test, FactoryKeepsTheLambdaCapturesAlive) {
  watchdog dog(30s);
  std::string text(100, 'x');  // long enough to live on the heap
  auto h = rt.spawn([text, c = counted{}](std::stop_token) -> task<std::size_t> {
    for (int i = 0; i < 10; ++i) co_await yield();
    co_return text.size();  // the capture, read after several suspensions
  });
  auto r = h.wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 100u);
}

TEST_F(spawn_test, WaitForTimesOutAndTheHandleStaysUsable) {
  watchdog dog(30s);
  event go;
  auto h = rt.spawn([](event& go) -> task<int> {
    co_await go.wait();
    co_return 7;
  }(go));
  // The task cannot end before `go` is set.
  auto early = h.wait_for(10ms);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error(), errc::timed_out);
  EXPECT_TRUE(h) << "a timed-out wait leaves the task in the handle";
  EXPECT_FALSE(h.ready());
  go.set();
  auto late = h.wait_for(30s);
  ASSERT_TRUE(late) << late.error().message();
  EXPECT_EQ(*late, 7);
}

TEST_F(spawn_test, WaitForALimitPastTheClockRangeWaits) {
  watchdog dog(30s);
  auto r = rt.spawn(answer()).wait_for(std::chrono::hours::max());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

TEST_F(spawn_test, CancelStopsARunningTask) {
  watchdog dog(30s);
  event never;
  latch running(1);
  auto h = rt.spawn([&running, &never](std::stop_token stop) -> task<result<void>> {
    running.count_down();
    co_return co_await never.wait(stop);
  });
  EXPECT_TRUE(h.stop_token().stop_possible());
  running.wait();  // cancelled while it runs (not before it starts)
  h.cancel();
  auto r = h.wait();
  ASSERT_TRUE(r) << "the task ran and returned its own result";
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error(), std::errc::operation_canceled);
}

// The same with a sleep, whose stop may land while the timer is being
// started (on another thread than the worker).
TEST_F(spawn_test, CancelASleepAsItStarts) {
  watchdog dog(30s);
  for (int i = 0; i < 200; ++i) {
    latch running(1);
    auto h = rt.spawn([&running](std::stop_token stop) -> task<result<void>> {
      running.count_down();
      co_return co_await with_stop(sleep_for(24h), stop);
    });
    running.wait();
    h.cancel();
    auto r = h.wait();
    ASSERT_TRUE(r);
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error(), std::errc::operation_canceled);
  }
}

TEST(spawn_cancel, ACancelledTaskThatHasNotStartedNeverRuns) {
  watchdog dog(30s);
  auto rt = make_runtime(1);
  latch blocking(1), release(1);
  // Holds the only worker, so the next task stays queued behind it.
  auto blocker = rt.spawn([](latch& blocking, latch& release) -> task<void> {
    blocking.count_down();
    release.wait();
    co_return;
  }(blocking, release));
  blocking.wait();
  std::atomic<bool> ran{false};
  auto h = rt.spawn([](std::atomic<bool>& ran) -> task<void> {
    ran = true;
    co_return;
  }(ran));
  h.cancel();
  release.count_down();
  auto r = h.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::operation_canceled);
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(blocker.wait());
}

TEST_F(spawn_test, ADroppedHandleDetachesAndTheTaskStillRuns) {
  watchdog dog(30s);
  latch finished(1);
  event go;
  rt.spawn([](event& go, latch& finished, counted c) -> task<void> {
    (void)c;
    co_await go.wait();
    finished.count_down();
  }(go, finished, counted{})).detach();
  {
    // Dropped without detach(): the same.
    auto dropped = rt.spawn(answer());
  }
  go.set();
  finished.wait();
  auto report = rt.shutdown(30s);
  EXPECT_EQ(report.abandoned, 0u);
  EXPECT_EQ(counted::live.load(), 0) << "the detached tasks' frames were freed";
}

TEST_F(spawn_test, SpawnAndBlockOnAfterShutdownAreRefused) {
  watchdog dog(30s);
  auto report = rt.shutdown();
  EXPECT_EQ(report.abandoned, 0u);
  EXPECT_TRUE(rt.stop_token().stop_requested());
  auto h = rt.spawn(answer(counted{}));
  ASSERT_TRUE(h.ready()) << "refused at once";
  auto r = h.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::shut_down);
  EXPECT_EQ(r.error(), std::errc::operation_canceled);
  EXPECT_EQ(counted::live.load(), 0) << "the refused task's frame was freed unstarted";
  try {
    (void)rt.block_on(answer());
    ADD_FAILURE() << "block_on after shutdown returned";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::shut_down);
  }
  // A second shutdown (and the destructor) has nothing left to do.
  auto again = rt.shutdown();
  EXPECT_EQ(again.finished + again.stopped + again.abandoned, 0u);
}

TEST_F(spawn_test, ShutdownLetsTasksFinishThenStopsTheRest) {
  watchdog dog(30s);
  event go;
  latch running(3);
  // Ends on its own once `go` is set (set below, before shutdown).
  auto quick = rt.spawn([](event& go, latch& running) -> task<int> {
    running.count_down();
    co_await go.wait();
    co_return 1;
  }(go, running));
  // Ends only when the root token is stopped.
  auto stuck = rt.spawn([](latch& running, std::stop_token stop) -> task<result<void>> {
    running.count_down();
    co_return co_await with_stop(sleep_for(24h), stop);
  }(running, rt.stop_token()));
  // Its own token is stopped by the root's stop too.
  auto factory = rt.spawn([&running](std::stop_token stop) -> task<result<void>> {
    running.count_down();
    co_return co_await with_stop(sleep_for(24h), stop);
  });
  running.wait();  // all three started: none can be cancelled before it runs
  go.set();
  auto report = rt.shutdown(50ms);
  EXPECT_EQ(report.abandoned, 0u);
  EXPECT_GE(report.stopped, 2u);
  EXPECT_LE(report.finished + report.stopped, 3u);
  auto q = quick.wait();
  ASSERT_TRUE(q);
  EXPECT_EQ(*q, 1);
  for (auto* h : {&stuck, &factory}) {
    auto r = h->wait();
    ASSERT_TRUE(r) << "both ran and returned their own result";
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error(), std::errc::operation_canceled);
  }
}

TEST_F(spawn_test, ShutdownMakesEveryBlockOnInProgressReturn) {
  watchdog dog(30s);
  latch inside(2);
  std::vector<std::error_code> got(2);
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&, i] {
      auto r = rt.block_on([](latch& inside, std::stop_token stop) -> task<result<void>> {
        inside.count_down();
        co_return co_await with_stop(sleep_for(24h), stop);
      }(inside, rt.stop_token()));
      got[static_cast<std::size_t>(i)] = r ? std::error_code() : r.error();
    });
  }
  inside.wait();
  auto report = rt.shutdown(0ms);
  for (auto& t : callers) t.join();
  EXPECT_EQ(report.stopped, 2u);
  EXPECT_EQ(report.abandoned, 0u);
  for (auto& ec : got) EXPECT_EQ(ec, std::errc::operation_canceled);
}

// Issue 11: destroying a runtime while another thread is inside block_on.
TEST(runtime_destroy, BlockOnInProgressReturnsWhenTheRuntimeIsDestroyed) {
  watchdog dog(30s);
  std::optional<runtime> rt(make_runtime());
  latch inside(1);
  std::error_code got;
  std::thread caller([&] {
    auto r = rt->block_on([](latch& inside, std::stop_token stop) -> task<result<void>> {
      inside.count_down();
      co_return co_await with_stop(sleep_for(24h), stop);
    }(inside, rt->stop_token()));
    got = r ? std::error_code() : r.error();
  });
  inside.wait();
  rt.reset();
  caller.join();
  EXPECT_EQ(got, std::errc::operation_canceled);
}

// A task that ignores every stop: the runtime gives up on it (its frame is
// leaked on purpose: an operation may still name it), and block_on reports
// errc::shut_down instead of hanging.
TEST(runtime_destroy, BlockOnOfATaskThatIgnoresStopReturnsAnError) {
  watchdog dog(30s);
  auto created = runtime::create({.threads = 2, .abandon_after = 20ms});
  ASSERT_TRUE(created);
  std::optional<runtime> rt(std::move(*created));
  latch inside(1);
  std::error_code got;
  std::thread caller([&] {
#ifdef CORIO_TEST_LSAN
    __lsan::ScopedDisabler leaked_on_purpose;  // the abandoned frames
#endif
    try {
      rt->block_on([](latch& inside) -> task<void> {
        inside.count_down();
        co_await std::suspend_always{};  // nobody resumes it
      }(inside));
    } catch (const std::system_error& e) {
      got = e.code();
    }
  });
  inside.wait();
  rt.reset();
  caller.join();
  EXPECT_EQ(got, errc::shut_down);
}

TEST(spawn_moved, AMovedFromRuntimeRefusesWorkInsteadOfCrashing) {
  watchdog dog(30s);
  auto rt = make_runtime(1);
  runtime moved = std::move(rt);
  auto refused = rt.spawn(answer(counted{}));  // NOLINT(bugprone-use-after-move): the point
  auto r = refused.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::shut_down);
  EXPECT_EQ(rt.shutdown().abandoned, 0u);
  auto ok = moved.spawn(answer()).wait();
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 42);
}

TEST_F(spawn_test, ShutdownOnAWorkerIsRefused) {
  run([](runtime& rt) -> task<void> {
    EXPECT_THROW((void)rt.shutdown(), std::logic_error);
    auto h = rt.spawn(answer());
    EXPECT_THROW((void)h.wait(), std::logic_error);
    (void)co_await h;
  }(rt));
}

// Issue 12: spawn from 4 plain threads while the runtime shuts down. Every
// spawn either runs to its end, is stopped by shutdown, is cancelled before
// it starts, or is refused; the counts add up.
TEST(spawn_shutdown, SpawnFromFourThreadsWhileTheRuntimeShutsDown) {
  watchdog dog(60s);
  auto rt = make_runtime();
  constexpr int threads = 4;
  constexpr int cap = 200000;  // a bound: each thread stops at its first refusal
  struct tally {
    int spawned = 0, completed = 0, stopped = 0, cancelled = 0, refused = 0, other = 0;
  };
  std::vector<tally> tallies(threads);
  std::atomic<int> bodies{0};
  latch warmed(threads);
  auto classify = [](tally& t, result<int> r) {
    if (r && *r == 1) {
      ++t.completed;
    } else if (r && *r == 0) {
      ++t.stopped;
    } else if (!r && r.error() == errc::shut_down) {
      ++t.refused;
    } else if (!r && r.error() == std::errc::operation_canceled) {
      ++t.cancelled;
    } else {
      ++t.other;
    }
  };
  std::vector<std::thread> spawners;
  for (int i = 0; i < threads; ++i) {
    spawners.emplace_back([&, i] {
      tally& t = tallies[static_cast<std::size_t>(i)];
      std::vector<join_handle<int>> pending;
      for (bool refused = false; !refused && t.spawned < cap;) {
        auto h = rt.spawn([&bodies](std::stop_token stop) -> task<int> {
          bodies.fetch_add(1);
          auto slept = co_await with_stop(sleep_for(1ms), stop);
          co_return slept ? 1 : 0;
        });
        ++t.spawned;
        if (t.spawned == 50) warmed.count_down();
        if (h.ready()) {
          auto r = h.wait();
          refused = !r && r.error() == errc::shut_down;
          classify(t, std::move(r));
        } else {
          pending.push_back(std::move(h));
        }
      }
      if (t.spawned < 50) warmed.count_down();
      for (auto& h : pending) classify(t, h.wait());
    });
  }
  warmed.wait();
  auto report = rt.shutdown(5ms);
  for (auto& s : spawners) s.join();
  tally sum;
  for (auto& t : tallies) {
    EXPECT_EQ(t.refused, 1) << "each thread spawns until its first refusal";
    sum.spawned += t.spawned;
    sum.completed += t.completed;
    sum.stopped += t.stopped;
    sum.cancelled += t.cancelled;
    sum.refused += t.refused;
    sum.other += t.other;
  }
  EXPECT_EQ(sum.other, 0);
  EXPECT_EQ(sum.completed + sum.stopped + sum.cancelled + sum.refused, sum.spawned);
  EXPECT_EQ(bodies.load(), sum.completed + sum.stopped) << "every body that started ended";
  EXPECT_EQ(report.abandoned, 0u);
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

}  // namespace
}  // namespace corio::test
