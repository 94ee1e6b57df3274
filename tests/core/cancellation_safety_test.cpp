// tests/core/cancellation_safety_test.cpp: what the combinators guarantee
// about the losers of a race (docs/cancellation-safety.md): nothing that
// completed is dropped, exceptions are not lost, and every loser is reaped.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class cancellation_safety_test : public runtime_test {};

// With a message waiting on each of 16 sockets, when_any over a read on
// each: the winner's message and every loser's are all accounted for,
// either returned by when_any (a loser whose read completed before its
// cancel landed, as on io_uring) or still in its socket (a loser cancelled
// before it consumed anything). Before the fix, io_uring lost the losers'
// messages: they were read from the socket and then dropped.
TEST_F(cancellation_safety_test, WhenAnyOverSixteenReadsLosesNoMessage) {
  run([]() -> task<void> {
    constexpr std::size_t n = 16;
    constexpr int rounds = 20;
    constexpr std::size_t size = 8;
    std::vector<stream_pair> pairs;
    for (std::size_t i = 0; i < n; ++i) pairs.push_back(co_await connected_pair());
    std::vector<std::array<char, size>> bufs(n);
    int returned_by_losers = 0;
    for (int round = 0; round < rounds; ++round) {
      std::vector<std::string> sent(n), got(n);
      for (std::size_t i = 0; i < n; ++i) {
        sent[i] = std::to_string(10000000 + round * 100 + static_cast<int>(i));
        CO_ASSERT(co_await pairs[i].client.write_all(sent[i]));
      }
      std::vector<detail::transfer_awaiter<false>> reads;
      for (std::size_t i = 0; i < n; ++i) reads.push_back(pairs[i].server.read(bufs[i]));
      auto r = co_await when_any(std::move(reads));
      CO_ASSERT(r.value);
      got[r.index].assign(bufs[r.index].data(), *r.value);
      EXPECT_EQ(r.losers.size(), n - 1);
      for (auto& l : r.losers) {
        EXPECT_NE(l.index, r.index);
        EXPECT_FALSE(l.error);
        CO_ASSERT(l.value);
        if (*l.value) {
          got[l.index].assign(bufs[l.index].data(), **l.value);
          ++returned_by_losers;
        } else {
          EXPECT_EQ(l.value->error(), std::errc::operation_canceled);
        }
      }
      // What no read returned must still be in its socket.
      for (std::size_t i = 0; i < n; ++i) {
        while (got[i].size() < size) {
          auto more = co_await with_timeout(pairs[i].server.read(bufs[i]), 5s);
          CO_ASSERT(more && *more > 0);
          got[i].append(bufs[i].data(), *more);
        }
        EXPECT_EQ(got[i], sent[i]) << "socket " << i << " round " << round;
      }
    }
    // Informative only: how often a loser's read had completed anyway.
    RecordProperty("returned_by_losers", returned_by_losers);
  }());
}

TEST_F(cancellation_safety_test, WhenAnyReportsALosersException) {
  auto r = run([]() -> task<any_result<int>> {
    co_return co_await when_any(
        [](std::stop_token tok) -> task<int> {
          (void)co_await with_stop(sleep_for(1h), tok);
          throw std::runtime_error("loser failed while stopping");
        },
        [](std::stop_token) -> task<int> {
          co_await yield();
          co_return 7;
        });
  }());
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.value, 7);
  ASSERT_EQ(r.losers.size(), 1u);
  EXPECT_EQ(r.losers[0].index, 0u);
  EXPECT_FALSE(r.losers[0].value);
  ASSERT_TRUE(r.losers[0].error);
  EXPECT_THROW(std::rethrow_exception(r.losers[0].error), std::runtime_error);
}

// A loser that ignores its token and returns a value anyway: the value is
// in losers, not dropped.
TEST_F(cancellation_safety_test, WhenAnyReturnsALoserThatFinishedAnyway) {
  auto r = run([]() -> task<any_result<int>> {
    co_return co_await when_any(
        [](std::stop_token) -> task<int> {
          for (int i = 0; i < 10; ++i) co_await yield();
          co_return 1;
        },
        [](std::stop_token) -> task<int> { co_return 2; });
  }());
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.value, 2);
  ASSERT_EQ(r.losers.size(), 1u);
  ASSERT_TRUE(r.losers[0].value);
  EXPECT_EQ(*r.losers[0].value, 1);
}

TEST_F(cancellation_safety_test, WhenAllAndWhenAnyTakeOperations) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<char, 4> buf{};
    auto [w, rd] = co_await when_all(client.write(std::string_view("ping")), server.read_exact(buf));
    EXPECT_TRUE(w);
    EXPECT_TRUE(rd);
    EXPECT_EQ(std::string_view(buf.data(), 4), "ping");
    auto any = co_await when_any(sleep_for(1h), sleep_for(1ms));
    EXPECT_EQ(any.index, 1u);
    EXPECT_TRUE(any.value);
    CO_ASSERT(any.losers.size() == 1u);
    CO_ASSERT(any.losers[0].value);
    EXPECT_EQ(any.losers[0].value->error(), std::errc::operation_canceled);
  }());
}

// ---- with_stop / with_timeout on what is not a kernel operation -------------

TEST_F(cancellation_safety_test, TimeoutOnATaskCancelsAndReapsItsOperation) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<char, 4> buf;
    auto r = co_await with_timeout(
        [&](std::stop_token tok) -> task<result<std::size_t>> {
          counted alive;  // the task's frame is freed before with_timeout returns
          co_return co_await with_stop(server.read(buf), tok);
        },
        10ms);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), errc::timed_out);
    EXPECT_EQ(counted::live.load(), 0);
    // The read was reaped: the stream reads normally afterwards.
    (void)co_await client.write(std::string_view("late"));
    auto n = co_await server.read_exact(buf);
    EXPECT_TRUE(n);
    EXPECT_EQ(std::string_view(buf.data(), 4), "late");
  }());
}

// The deadline passes while the task goes on; it returns a value anyway:
// with_timeout gives the value, not timed_out.
TEST_F(cancellation_safety_test, TimeoutOnATaskKeepsAValueThatArrivedAfterTheDeadline) {
  auto r = run([]() -> task<result<int>> {
    co_return co_await with_timeout(
        [](std::stop_token tok) -> task<int> {
          while (!tok.stop_requested()) co_await yield();
          co_return 42;
        },
        1ms);
  }());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

TEST_F(cancellation_safety_test, TimeoutOnATaskPropagatesItsException) {
  EXPECT_THROW(run([]() -> task<void> {
                 (void)co_await with_timeout(
                     [](std::stop_token) -> task<void> {
                       co_await yield();
                       throw std::runtime_error("inside");
                     },
                     1h);
               }()),
               std::runtime_error);
}

TEST_F(cancellation_safety_test, StopAndTimeoutOnChannelEventAndMutexWaits) {
  run([]() -> task<void> {
    channel<int> ch(1);
    std::stop_source stopped;
    stopped.request_stop();
    auto c = co_await with_stop(ch.receive(), stopped.get_token());
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::operation_canceled);

    auto t = co_await with_timeout(ch.receive(), 5ms);
    CO_ASSERT(!t);
    EXPECT_EQ(t.error(), errc::timed_out);
    CO_ASSERT(ch.try_send(5));
    auto v = co_await with_timeout(ch.receive(), 1h);
    CO_ASSERT(v);
    EXPECT_EQ(*v, 5);
    // Full channel: a send that times out sends nothing.
    CO_ASSERT(ch.try_send(6));
    auto s = co_await with_timeout(ch.send(7), 5ms);
    CO_ASSERT(!s);
    EXPECT_EQ(s.error(), errc::timed_out);
    EXPECT_EQ(*ch.try_receive(), 6);
    EXPECT_FALSE(ch.try_receive());

    event ev;
    auto e = co_await with_timeout(ev.wait(), 5ms);
    CO_ASSERT(!e);
    EXPECT_EQ(e.error(), errc::timed_out);
    auto e2 = co_await with_stop(ev.wait(), stopped.get_token());
    EXPECT_EQ(e2.error(), std::errc::operation_canceled);
    ev.set();
    EXPECT_TRUE(co_await with_timeout(ev.wait(), 1h));

    async_mutex m;
    auto held = co_await m.lock();
    auto l = co_await with_timeout(m.lock(), 5ms);
    CO_ASSERT(!l);
    EXPECT_EQ(l.error(), errc::timed_out);
    held.unlock();
    auto l2 = co_await with_timeout(m.lock(), 1h);
    CO_ASSERT(l2);
    EXPECT_TRUE(l2->owns_lock());
    EXPECT_EQ(ch.receivers_waiting(), 0u);
    EXPECT_EQ(m.waiting(), 0u);
  }());
}

// with_timeout of a task factory is itself a task factory: with_stop and
// when_any take it, and an outer stop ends it with operation_canceled.
TEST_F(cancellation_safety_test, TimeoutsNestInsideStopsAndWhenAny) {
  run([]() -> task<void> {
    std::stop_source outer;
    outer.request_stop();
    auto r = co_await with_stop(with_timeout(
                                    [](std::stop_token tok) -> task<result<void>> {
                                      co_return co_await with_stop(sleep_for(1h), tok);
                                    },
                                    1h),
                                outer.get_token());
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
    auto any = co_await when_any(with_timeout(
                                     [](std::stop_token tok) -> task<result<void>> {
                                       co_return co_await with_stop(sleep_for(1h), tok);
                                     },
                                     5ms),
                                 [](std::stop_token tok) -> task<result<void>> {
                                   co_return co_await with_stop(sleep_for(1h), tok);
                                 });
    EXPECT_EQ(any.index, 0u);
    EXPECT_EQ(any.value.error(), errc::timed_out);
  }());
}

}  // namespace
}  // namespace corio::test
