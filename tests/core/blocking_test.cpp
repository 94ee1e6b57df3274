// tests/core/blocking_test.cpp: spawn_blocking and the blocking pool.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "corio/blocking.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

// A flag that pool threads wait for. The wait is bounded so that a broken
// pool fails the test (the flag is then still unset) instead of hanging it.
class gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [this] { return open_; });
  }
  bool is_open() {
    std::lock_guard lock(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Lets the worker run other coroutines until `cond` holds.
template <class Cond>
task<void> until(Cond cond) {
  while (!cond()) co_await yield();
}

class blocking_test : public runtime_test {};

TEST_F(blocking_test, RunsOffTheWorkerAndResumesOnOne) {
  run([]() -> task<void> {
    const auto me = std::this_thread::get_id();
    auto r = co_await spawn_blocking([] { return std::this_thread::get_id(); });
    CO_ASSERT(r);
    EXPECT_NE(*r, me);
    EXPECT_TRUE(detail::on_worker());
  }());
}

TEST_F(blocking_test, ValuesVoidAndResultsPassThrough) {
  run([]() -> task<void> {
    auto v = co_await spawn_blocking([] { return std::string("forty-two"); });
    CO_ASSERT(v);
    EXPECT_EQ(*v, "forty-two");
    bool ran = false;
    result<void> none = co_await spawn_blocking([&ran] { ran = true; });
    EXPECT_TRUE(none);
    EXPECT_TRUE(ran);
    // A callable that returns result<U> gives that result, not result<result<U>>.
    result<int> failed = co_await spawn_blocking([]() -> result<int> { return fail(std::errc::io_error); });
    CO_ASSERT(!failed);
    EXPECT_EQ(failed.error(), std::errc::io_error);
  }());
}

TEST_F(blocking_test, ExceptionsTravelToTheAwaiter) {
  run([]() -> task<void> {
    bool caught = false;
    try {
      (void)co_await spawn_blocking([]() -> int { throw std::runtime_error("from the pool"); });
    } catch (const std::runtime_error& e) {
      caught = std::string_view(e.what()) == "from the pool";
    }
    EXPECT_TRUE(caught);
    // The pool thread survived it.
    auto r = co_await spawn_blocking([] { return 7; });
    EXPECT_EQ(r.value_or(0), 7);
  }());
}

TEST(blocking_pool, ThousandConcurrentJobsRunOnABoundedNumberOfThreads) {
  constexpr unsigned bound = 4;
  constexpr int jobs = 1000;
  auto rt = runtime::create({.threads = 2, .blocking_threads = bound});
  ASSERT_TRUE(rt);
  std::atomic<int> running{0}, peak{0}, sum{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  gate full;
  auto job = [&](int i) {
    const int now = running.fetch_add(1) + 1;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    if (now == static_cast<int>(bound)) full.open();
    // The first jobs hold their threads until the pool has grown to its
    // bound: proof that it starts threads on demand, up to the bound.
    if (!full.is_open()) (void)full.wait();
    {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    running.fetch_sub(1);
    return i;
  };
  test::run(*rt, [](decltype(job)& job, std::atomic<int>& sum) -> task<void> {
    scope s;
    for (int i = 0; i < jobs; ++i) {
      s.spawn([](decltype(job)& job, std::atomic<int>& sum, int i) -> task<void> {
        auto r = co_await spawn_blocking([&job, i] { return job(i); });
        EXPECT_TRUE(r);
        if (r) sum.fetch_add(*r);
      }(job, sum, i));
    }
    co_await s.join();
  }(job, sum));
  EXPECT_EQ(sum.load(), jobs * (jobs - 1) / 2);
  EXPECT_EQ(peak.load(), static_cast<int>(bound));
  EXPECT_LE(threads.size(), bound);
  EXPECT_LE(rt->blocking_threads(), bound);
  EXPECT_TRUE(full.is_open());
}

TEST(blocking_pool, IdleThreadsRetire) {
  auto rt = runtime::create({.threads = 1, .blocking_threads = 2,
                             .blocking_idle = std::chrono::milliseconds(1)});
  ASSERT_TRUE(rt);
  test::run(*rt, []() -> task<void> {
    auto r = co_await spawn_blocking([] { return 1; });
    EXPECT_TRUE(r);
  }());
  // Bounded wait for the thread to time out and end (1 ms idle timeout).
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (rt->blocking_threads() != 0 && std::chrono::steady_clock::now() < limit) std::this_thread::yield();
  EXPECT_EQ(rt->blocking_threads(), 0u);
  // And the pool starts a thread again for the next job.
  auto again = test::run(*rt, []() -> task<result<int>> { co_return co_await spawn_blocking([] { return 2; }); }());
  EXPECT_EQ(again.value_or(0), 2);
}

TEST(blocking_pool, AJobStoppedBeforeItStartsNeverRuns) {
  auto rt = runtime::create({.threads = 1, .blocking_threads = 1});
  ASSERT_TRUE(rt);
  test::run(*rt, []() -> task<void> {
    gate release;
    std::atomic<bool> a_running{false}, b_ran{false};
    std::stop_source stop;
    std::optional<result<void>> b_result;
    scope s;
    s.spawn_local([](gate& release, std::atomic<bool>& a_running) -> task<void> {
      auto r = co_await spawn_blocking([&] {
        a_running = true;
        return release.wait();
      });
      EXPECT_TRUE(r && *r);
    }(release, a_running));
    co_await until([&] { return a_running.load(); });
    // The only pool thread is busy: B waits in the queue.
    s.spawn_local([](std::atomic<bool>& b_ran, std::stop_token tok,
                     std::optional<result<void>>& out) -> task<void> {
      out = co_await spawn_blocking([&b_ran] { b_ran = true; }, tok);
    }(b_ran, stop.get_token(), b_result));
    co_await yield();  // B is queued now
    stop.request_stop();
    co_await until([&] { return b_result.has_value(); });
    // Resumed while A still holds the thread: cancelled in the queue.
    EXPECT_FALSE(release.is_open());
    CO_ASSERT(!*b_result);
    EXPECT_EQ(b_result->error(), std::errc::operation_canceled);
    release.open();
    co_await s.join();
    // Jobs start in order: had B stayed queued, it would run before C.
    auto c = co_await spawn_blocking([] { return 3; });
    EXPECT_EQ(c.value_or(0), 3);
    EXPECT_FALSE(b_ran.load());
  }());
}

TEST(blocking_pool, WithStopBeforeTheStartRunsNothing) {
  auto rt = runtime::create({.threads = 1});
  ASSERT_TRUE(rt);
  test::run(*rt, []() -> task<void> {
    std::stop_source stop;
    stop.request_stop();
    bool ran = false;
    auto r = co_await with_stop(spawn_blocking([&ran] { ran = true; }), stop.get_token());
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
    EXPECT_FALSE(ran);
  }());
}

TEST(blocking_pool, AJobStoppedWhileRunningCompletesAndItsValueIsDropped) {
  auto rt = runtime::create({.threads = 1, .blocking_threads = 1});
  ASSERT_TRUE(rt);
  test::run(*rt, []() -> task<void> {
    gate release;
    std::atomic<bool> running{false}, finished{false};
    std::stop_source stop;
    std::optional<result<int>> out;
    scope s;
    s.spawn_local([](gate& release, std::atomic<bool>& running, std::atomic<bool>& finished,
                     std::stop_token tok, std::optional<result<int>>& out) -> task<void> {
      out = co_await with_stop(spawn_blocking([&] {
                                 running = true;
                                 (void)release.wait();
                                 finished = true;
                                 return 5;
                               }),
                               tok);
    }(release, running, finished, stop.get_token(), out));
    co_await until([&] { return running.load(); });
    stop.request_stop();
    // The job cannot be interrupted, and its state is in the awaiter's
    // frame: the awaiter waits for it.
    for (int i = 0; i < 10; ++i) co_await yield();
    EXPECT_FALSE(out.has_value());
    release.open();
    co_await s.join();
    EXPECT_TRUE(finished.load());
    CO_ASSERT(out && !*out);
    EXPECT_EQ(out->error(), std::errc::operation_canceled);
  }());
}

TEST(blocking_pool, OffAWorkerItFails) {
  // Awaited by hand, off any runtime: nowhere to resume.
  auto aw = spawn_blocking([] { return 1; });
  EXPECT_FALSE(aw.await_suspend(std::noop_coroutine()));
  auto r = aw.await_resume();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::operation_not_supported);
}

// A coroutine whose frame the test frees itself, whether or not the
// runtime resumed it before it went away.
struct held {
  struct promise_type {
    held get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> h;
};

TEST(blocking_pool, ShutdownCancelsQueuedJobsAndWaitsForRunningOnes) {
  auto rt = runtime::create({.threads = 1, .blocking_threads = 1});
  ASSERT_TRUE(rt);
  gate a_started, b_done;
  std::atomic<bool> a_ran{false}, b_ran{false};
  std::optional<result<int>> a_result;
  std::optional<result<void>> b_result;
  // A holds the only thread until B's awaiter has been resumed: by the
  // runtime's shutdown, which cancels B in the queue.
  held a = [](gate& a_started, gate& b_done, std::atomic<bool>& a_ran,
              std::optional<result<int>>& out) -> held {
    out = co_await spawn_blocking([&] {
      a_started.open();
      (void)b_done.wait();
      a_ran = true;
      return 1;
    });
  }(a_started, b_done, a_ran, a_result);
  held b = [](gate& b_done, std::atomic<bool>& b_ran, std::optional<result<void>>& out) -> held {
    out = co_await spawn_blocking([&b_ran] { b_ran = true; });
    b_done.open();
  }(b_done, b_ran, b_result);
  test::run(*rt, [](held& a, held& b) -> task<void> {
    // A first: its job must be the one that holds the thread. (A yield
    // runs after every coroutine ready before it, shuffled or not.)
    detail::schedule_local(a.h);
    co_await yield();
    detail::schedule_local(b.h);
    co_await yield();  // both ran up to their spawn_blocking
  }(a, b));
  ASSERT_TRUE(a_started.wait());
  {
    watchdog dog(std::chrono::seconds(30));
    auto dying = std::move(*rt);
  }  // the runtime is gone: its pool joined, its workers too
  EXPECT_TRUE(a_ran.load());
  EXPECT_FALSE(b_ran.load());
  ASSERT_TRUE(b_result.has_value());
  ASSERT_FALSE(*b_result);
  EXPECT_EQ(b_result->error(), std::errc::operation_canceled);
  a.h.destroy();
  b.h.destroy();
}

}  // namespace
}  // namespace corio::test
