// tests/core/fault_test.cpp: targeted fault injection (corio/testing.hpp,
// docs/fault-injection.md). Each site is failed on the backends that have
// it, and each failure must end in a clear error or a retry: never a hang
// (the watchdog fails those), a leak (the fixture checks in_flight) or a
// lost byte (the echoes compare every byte).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <thread>
#include <vector>

#include "core/fault.hpp"
#include "core/worker.hpp"
#include "corio/testing.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;
using testing::fault_rule;
using testing::fault_site;

bool on(const runtime& rt, backend_kind k) { return rt.backend() == k; }

// Installs `rule` alone.
void inject(fault_rule rule) { ASSERT_TRUE(testing::set_faults(std::span(&rule, 1))); }

// A one-worker runtime (posts and wake-ups have one place to go), with the
// checks of runtime_test and no rule left behind.
class fault_test : public ::testing::Test {
 protected:
  void TearDown() override {
    testing::clear_faults();
    EXPECT_EQ(rt.operations_in_flight(), 0) << "operations still in flight at the end of the test";
  }
  template <class T>
  T run(task<T> t, std::chrono::seconds limit = 20s) {
    return test::run(rt, std::move(t), limit);
  }
  runtime rt = make_runtime(1);
};

// Sends `n` bytes from `from` and reads them back on `to`, comparing each.
task<void> transfer_intact(net::tcp_stream& from, net::tcp_stream& to, std::size_t n,
                           std::uint32_t seed) {
  const auto data = random_bytes(n, seed);
  scope s;
  s.spawn_local([](net::tcp_stream& from, const std::vector<std::byte>& data) -> task<void> {
    auto w = co_await from.write_all(std::span(data));
    EXPECT_TRUE(w) << w.error().message();
  }(from, data));
  std::vector<std::byte> got(n);
  auto r = co_await to.read_exact(std::span(got));
  co_await s.join();
  CO_ASSERT(r);
  EXPECT_TRUE(got == data) << "bytes lost or changed";
}

// ---- The rules themselves ------------------------------------------------------

TEST(fault_rules, SpecSyntaxIsCheckedAndNothingIsInstalledOnAnError) {
  EXPECT_TRUE(testing::set_faults("uring_get_sqe:nth=3,worker=1;rate=0.01,seed=42"));
  EXPECT_TRUE(testing::set_faults(" epoll_wait : nth=2 , count=5 ; timer_alloc:rate=1"));
  EXPECT_TRUE(testing::set_faults(""));
  EXPECT_FALSE(detail::faults_armed.load());
  for (const char* bad : {"no_such_site:nth=1", "nth", "op_start:nth=x", "op_start:speed=3",
                          "rate=1.5", "rate=0", "op_start:nth=0", "op_start:nth=1,count=0",
                          "op_start:nth=1;bogus"}) {
    EXPECT_FALSE(testing::set_faults(bad)) << bad;
    EXPECT_FALSE(detail::faults_armed.load()) << bad << " installed something";
  }
  for (std::uint8_t i = 0; i < static_cast<std::uint8_t>(fault_site::count_); ++i) {
    const auto name = std::string(testing::to_string(static_cast<fault_site>(i)));
    EXPECT_TRUE(testing::set_faults(name + ":nth=1")) << name;
  }
  testing::clear_faults();
}

TEST(fault_rules, NthFailsExactlyThoseOccurrences) {
  inject({.site = fault_site::timer_alloc, .nth = 3, .count = 2});
  std::vector<bool> hits;
  for (int i = 0; i < 6; ++i) hits.push_back(detail::fault_hit(fault_site::timer_alloc));
  EXPECT_EQ(hits, (std::vector<bool>{false, false, true, true, false, false}));
  EXPECT_FALSE(detail::fault_hit(fault_site::epoll_wait)) << "another site must not fail";
  testing::clear_faults();
}

TEST(fault_rules, ARandomRateReplaysTheSameDecisionsForTheSameSeed) {
  auto draw = [](std::uint64_t seed) {
    inject({.any_site = true, .nth = 0, .rate = 0.1, .seed = seed});
    std::vector<bool> out;
    for (int i = 0; i < 2000; ++i) out.push_back(detail::fault_hit(fault_site::op_start));
    testing::clear_faults();
    return out;
  };
  const auto a = draw(42), b = draw(42), c = draw(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const auto failed = std::count(a.begin(), a.end(), true);
  EXPECT_GT(failed, 100);  // 200 expected
  EXPECT_LT(failed, 300);
  // A rule for every site still leaves signal_pipe alone: it must be named.
  inject({.any_site = true, .nth = 0, .rate = 1, .seed = 1});
  EXPECT_FALSE(detail::fault_hit(fault_site::signal_pipe));
  EXPECT_TRUE(detail::fault_hit(fault_site::epoll_wait));
  testing::clear_faults();
}

TEST(fault_rules, AWorkerRuleFailsOnThatWorkerOnly) {
  auto rt = make_runtime(2);
  std::vector<result<void>> slept;
  for (int i = 0; i < 4; ++i) {
    slept.push_back(run(rt, []() -> task<result<void>> {
      const int me = static_cast<int>(detail::worker::current()->index());
      fault_rule other{.site = fault_site::op_start, .nth = 1, .count = 100, .worker = 1 - me};
      EXPECT_TRUE(testing::set_faults(std::span(&other, 1)));
      auto ok = co_await sleep_for(1ms);
      EXPECT_TRUE(ok) << "a rule for the other worker failed this one";
      // Read again: a completion may resume this coroutine on the other
      // worker (IOCP's workers share one port), and the rule is for the
      // worker that starts the next operation.
      const int now = static_cast<int>(detail::worker::current()->index());
      fault_rule mine{.site = fault_site::op_start, .nth = 1, .count = 100, .worker = now};
      EXPECT_TRUE(testing::set_faults(std::span(&mine, 1)));
      auto failed = co_await sleep_for(1ms);
      testing::clear_faults();
      co_return failed;
    }()));
  }
  for (auto& r : slept) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::resource_unavailable_try_again);
  }
}

// ---- Every backend -----------------------------------------------------------

TEST_F(fault_test, TimerAllocFailsTheTimerAndEndsAWithTimeoutAtOnce) {
  run([]() -> task<void> {
    inject({.site = fault_site::timer_alloc});
    const auto injected0 = testing::faults_injected(fault_site::timer_alloc);
    auto t = co_await sleep_for(1h);
    CO_ASSERT(!t);
    EXPECT_EQ(t.error(), std::errc::not_enough_memory);
    // A read that nothing will ever complete, bounded by a timer that cannot
    // be queued: the read is cancelled and the timer's error reported.
    auto [client, server] = co_await connected_pair();
    inject({.site = fault_site::timer_alloc});
    std::array<char, 8> buf;
    auto r = co_await with_timeout(server.read(buf), 1h);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::not_enough_memory);
    EXPECT_EQ(testing::faults_injected(fault_site::timer_alloc) - injected0, 2u);
    // Nothing was lost: the stream still carries every byte.
    testing::clear_faults();
    co_await transfer_intact(client, server, 4096, 1);
  }());
}

TEST_F(fault_test, StopRegistryAllocFallsBackAndTheStopStillCancels) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    inject({.site = fault_site::stop_registry_alloc, .nth = 1, .count = 1000});
    std::stop_source stop;
    scope s;
    result<std::size_t> got = 0;
    s.spawn_local([](net::tcp_stream& server, std::stop_token tok,
                     result<std::size_t>& got) -> task<void> {
      std::array<char, 8> buf;
      got = co_await with_stop(server.read(buf), tok);
    }(server, stop.get_token(), got));
    co_await yield();
    stop.request_stop();
    co_await s.join();
    CO_ASSERT(!got);
    EXPECT_EQ(got.error(), std::errc::operation_canceled);
    if (rt.backend() != backend_kind::iocp) {
      EXPECT_GT(testing::faults_injected(fault_site::stop_registry_alloc), 0u);
    }
  }(rt));
}

TEST_F(fault_test, OpStartAtARandomRateLosesNoByteThatWasWritten) {
  // Each refused write is retried by the caller: what write_all reports
  // written must arrive, exactly once and in order.
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    const auto data = random_bytes(64 * 1024, 7);
    inject({.site = fault_site::op_start, .nth = 0, .rate = 0.2, .seed = 5});
    scope s;
    s.spawn_local([](net::tcp_stream& client, const std::vector<std::byte>& data) -> task<void> {
      std::size_t sent = 0;
      while (sent < data.size()) {
        auto n = co_await client.write(std::span(data).subspan(sent, std::min<std::size_t>(
                                                                         1000, data.size() - sent)));
        if (n) sent += *n;
        else EXPECT_EQ(n.error(), std::errc::resource_unavailable_try_again);
      }
    }(client, data));
    std::vector<std::byte> got;
    std::array<std::byte, 1500> buf;
    while (got.size() < data.size()) {
      auto n = co_await server.read(buf);
      if (!n) {
        EXPECT_EQ(n.error(), std::errc::resource_unavailable_try_again);
        continue;
      }
      CO_ASSERT(*n > 0);
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    co_await s.join();
    testing::clear_faults();
    EXPECT_TRUE(got == data);
    EXPECT_GT(testing::faults_injected(fault_site::op_start), 0u);
  }());
}

// ---- io_uring ------------------------------------------------------------------

TEST_F(fault_test, UringNoSqeFailsTheOperationAtOnce) {
  if (!on(rt, backend_kind::io_uring)) GTEST_SKIP() << "io_uring only: submission queue entries";
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    inject({.site = fault_site::uring_get_sqe});
    std::array<char, 8> buf;
    auto r = co_await server.read(buf);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::resource_unavailable_try_again);
    co_await transfer_intact(client, server, 4096, 2);
  }());
}

TEST_F(fault_test, UringEnterErrorsAreRetriedAndLoseNothing) {
  if (!on(rt, backend_kind::io_uring)) GTEST_SKIP() << "io_uring only: io_uring_enter";
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    const fault_rule rules[] = {
        {.site = fault_site::uring_submit, .nth = 0, .rate = 0.3, .seed = 11},
        {.site = fault_site::cq_overflow, .nth = 0, .rate = 0.3, .seed = 12},
    };
    const auto submit0 = testing::faults_injected(fault_site::uring_submit);
    const auto overflow0 = testing::faults_injected(fault_site::cq_overflow);
    EXPECT_TRUE(testing::set_faults(std::span(rules)));
    for (int i = 0; i < 4; ++i) {
      co_await transfer_intact(client, server, 64 * 1024, 3 + i);
      for (int j = 0; j < 5; ++j) {  // each sleep blocks in io_uring_enter
        auto slept = co_await sleep_for(1ms);
        EXPECT_TRUE(slept);
      }
    }
    testing::clear_faults();
    EXPECT_GT(testing::faults_injected(fault_site::uring_submit), submit0);
    EXPECT_GT(testing::faults_injected(fault_site::cq_overflow), overflow0);
  }());
}

// Before the fix a cancel request that found no SQE was dropped: a read
// from a silent peer then never ended, whatever its timeout said.
TEST_F(fault_test, UringCancelWithoutSqeIsRetriedSoTheTimeoutStillEndsTheRead) {
  if (!on(rt, backend_kind::io_uring)) GTEST_SKIP() << "io_uring only: cancel requests";
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    inject({.site = fault_site::uring_cancel_submit, .nth = 1, .count = 3});
    std::array<char, 8> buf;
    auto r = co_await with_timeout(server.read(buf), 20ms);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), errc::timed_out);
    EXPECT_EQ(testing::faults_injected(fault_site::uring_cancel_submit), 3u);
    // A stop the same way.
    inject({.site = fault_site::uring_cancel_submit, .nth = 1, .count = 2});
    std::stop_source stop;
    scope s;
    result<std::size_t> got = 0;
    s.spawn_local([](net::tcp_stream& server, std::stop_token tok,
                     result<std::size_t>& got) -> task<void> {
      std::array<char, 8> buf;
      got = co_await with_stop(server.read(buf), tok);
    }(server, stop.get_token(), got));
    co_await yield();
    stop.request_stop();
    co_await s.join();
    CO_ASSERT(!got);
    EXPECT_EQ(got.error(), std::errc::operation_canceled);
    EXPECT_EQ(testing::faults_injected(fault_site::uring_cancel_submit), 5u);
    testing::clear_faults();
    co_await transfer_intact(client, server, 4096, 4);
  }());
}

// Before the fix a wake-up read that could not be re-armed left the worker
// deaf to posts: the second block_on below never ran.
TEST_F(fault_test, UringWakeReadThatCannotBeRearmedIsRetried) {
  if (!on(rt, backend_kind::io_uring)) GTEST_SKIP() << "io_uring only: the eventfd read";
  inject({.site = fault_site::uring_wake_rearm, .nth = 1, .count = 3});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(run([](int i) -> task<int> { co_return i; }(i)), i);
  }
  std::thread other([this] {
    auto h = rt.spawn([]() -> task<int> { co_return 7; }());
    (void)h;
  });
  other.join();
  EXPECT_EQ(testing::faults_injected(fault_site::uring_wake_rearm), 3u);
}

// ---- io_uring and epoll: the posted queue -----------------------------------

// Before the fix a failed eventfd write left the queue marked as signalled:
// neither that post nor any later one woke the worker.
TEST_F(fault_test, FailedWakeWriteIsRetriedAndNoPostIsLost) {
  if (on(rt, backend_kind::iocp)) GTEST_SKIP() << "io_uring and epoll only: IOCP posts packets";
  inject({.site = fault_site::posted_wake, .nth = 1, .count = 2});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(run([](int i) -> task<int> { co_return i; }(i)), i);
  }
  EXPECT_EQ(testing::faults_injected(fault_site::posted_wake), 2u);
}

// ---- epoll ---------------------------------------------------------------------

TEST_F(fault_test, EpollCtlAddFailureFailsTheOperationAndTheNextOneRegisters) {
  if (!on(rt, backend_kind::epoll)) GTEST_SKIP() << "epoll only: registrations";
  run([]() -> task<void> {
    auto listener = listen_loopback();
    inject({.site = fault_site::epoll_ctl_add});
    auto a = co_await listener.accept();
    CO_ASSERT(!a);
    EXPECT_EQ(a.error(), std::errc::no_space_on_device);
    testing::clear_faults();
    auto [client, server] = co_await connected_pair();
    inject({.site = fault_site::epoll_ctl_add});
    std::array<char, 8> buf;
    auto r = co_await server.read(buf);  // nothing to read: it must wait, and cannot
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::no_space_on_device);
    testing::clear_faults();
    co_await transfer_intact(client, server, 256 * 1024, 5);
  }());
}

TEST_F(fault_test, EpollWaitErrorsAreRetriedAndLoseNothing) {
  if (!on(rt, backend_kind::epoll)) GTEST_SKIP() << "epoll only: epoll_wait";
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    inject({.site = fault_site::epoll_wait, .nth = 0, .rate = 0.5, .seed = 9});
    co_await transfer_intact(client, server, 256 * 1024, 6);
    auto slept = co_await sleep_for(1ms);
    EXPECT_TRUE(slept);
    testing::clear_faults();
    EXPECT_GT(testing::faults_injected(fault_site::epoll_wait), 0u);
  }());
}

// ---- POSIX signals ---------------------------------------------------------------

#ifndef _WIN32
// Before the fix a failed pipe2 installed no handler and said nothing: the
// waiter waited for a signal that would kill the process.
TEST_F(fault_test, SignalPipeFailureEndsTheWaitWithTheErrorAndTheNextWaitInstalls) {
  inject({.site = fault_site::signal_pipe});
  const auto injected0 = testing::faults_injected(fault_site::signal_pipe);
  // Bounded: where an earlier test in this process installed the handlers
  // (one process for the whole suite, not ctest's one per test), the site
  // is never reached and the wait would last for ever.
  auto first = run([]() -> task<result<shutdown_signal>> {
    auto wait = [](std::stop_token t) -> task<result<shutdown_signal>> { co_return co_await ctrl_c(t); };
    co_return co_await with_timeout(wait, std::chrono::seconds(5));
  }());
  if (!first && first.error() == std::errc::timed_out &&
      testing::faults_injected(fault_site::signal_pipe) == injected0) {
    testing::clear_faults();
    GTEST_SKIP() << "the signal handlers were installed by an earlier test in this process";
  }
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error(), std::errc::too_many_files_open);
  testing::clear_faults();
  auto second = run([]() -> task<result<shutdown_signal>> {
    scope s;
    result<shutdown_signal> got = fail(errc::not_open);
    s.spawn_local([](result<shutdown_signal>& got) -> task<void> {
      got = co_await ctrl_c();
    }(got));
    co_await yield();
    std::raise(SIGINT);  // kills the process unless the handlers are in place now
    co_await s.join();
    co_return got;
  }());
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, shutdown_signal::interrupt);
}
#endif

// ---- IOCP ----------------------------------------------------------------------

TEST_F(fault_test, IocpRefusedPostsAreKeptAndRun) {
  if (!on(rt, backend_kind::iocp)) GTEST_SKIP() << "IOCP only: PostQueuedCompletionStatus";
  // Two workers, so that spawns go through the port.
  auto rt2 = make_runtime(2);
  std::atomic<int> ran{0};
  test::run(rt2, [](std::atomic<int>& ran) -> task<void> {
    inject({.site = fault_site::iocp_post, .nth = 0, .rate = 0.5, .seed = 3});
    scope s;
    for (int i = 0; i < 100; ++i) {
      s.spawn([](std::atomic<int>& ran) -> task<void> {
        co_await yield();
        ran.fetch_add(1);
      }(ran));
    }
    co_await s.join();
    testing::clear_faults();
  }(ran));
  EXPECT_EQ(ran.load(), 100);
  EXPECT_GT(testing::faults_injected(fault_site::iocp_post), 0u);
}

TEST_F(fault_test, IocpDequeueFailuresAreRetriedAndLoseNothing) {
  if (!on(rt, backend_kind::iocp)) GTEST_SKIP() << "IOCP only: GetQueuedCompletionStatusEx";
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    inject({.site = fault_site::iocp_dequeue, .nth = 0, .rate = 0.5, .seed = 4});
    co_await transfer_intact(client, server, 256 * 1024, 8);
    testing::clear_faults();
    EXPECT_GT(testing::faults_injected(fault_site::iocp_dequeue), 0u);
  }());
}

}  // namespace
}  // namespace corio::test
