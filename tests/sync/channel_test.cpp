// tests/sync/channel_test.cpp: channel<T> between coroutines on several
// workers: order, back-pressure, close, cancellation.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "corio/sync/channel.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class channel_test : public runtime_test {};

// Waits, without sleeping, until `ready()` holds (other workers get there).
template <class F>
task<void> until(F ready) {
  while (!ready()) co_await yield();
}

TEST_F(channel_test, OneProducerOneConsumerKeepOrderAcrossWorkers) {
  run([]() -> task<void> {
    constexpr int n = 20000;
    channel<int> ch(4);
    std::vector<int> got;
    scope s;
    // spawn() places the two on different workers (round-robin).
    s.spawn([](channel<int>& ch) -> task<void> {
      for (int i = 0; i < n; ++i) {
        auto r = co_await ch.send(i);
        EXPECT_TRUE(r);
      }
      ch.close();
    }(ch));
    s.spawn([](channel<int>& ch, std::vector<int>& got) -> task<void> {
      for (;;) {
        auto v = co_await ch.receive();
        if (!v) {
          EXPECT_EQ(v.error(), errc::not_open);
          co_return;
        }
        got.push_back(*v);
      }
    }(ch, got));
    co_await s.join();
    CO_ASSERT(got.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      CO_ASSERT(got[static_cast<std::size_t>(i)] == i);
    }
  }());
}

TEST_F(channel_test, ManyProducersManyConsumersDeliverEachValueOnceAndInProducerOrder) {
  constexpr int producers = 6, consumers = 4, per_producer = 4000;
  std::vector<std::vector<int>> got(consumers);  // value = producer * per_producer + seq
  run([](std::vector<std::vector<int>>& got) -> task<void> {
    channel<int> ch(8);
    scope prod, cons;
    for (int p = 0; p < producers; ++p) {
      prod.spawn([](channel<int>& ch, int p) -> task<void> {
        for (int i = 0; i < per_producer; ++i) {
          // Mix suspending sends with try_send, which must not jump the queue.
          if (i % 3 == 0 && ch.try_send(p * per_producer + i)) continue;
          auto r = co_await ch.send(p * per_producer + i);
          EXPECT_TRUE(r);
        }
      }(ch, p));
    }
    for (int c = 0; c < consumers; ++c) {
      cons.spawn([](channel<int>& ch, std::vector<int>& mine) -> task<void> {
        for (;;) {
          auto v = co_await ch.receive();
          if (!v) co_return;
          mine.push_back(*v);
        }
      }(ch, got[static_cast<std::size_t>(c)]));
    }
    co_await prod.join();
    ch.close();
    co_await cons.join();
  }(got));
  std::vector<int> all;
  for (auto& mine : got) {
    // Each consumer sees each producer's values in the order they were sent.
    std::vector<int> last(producers, -1);
    for (int v : mine) {
      int p = v / per_producer, seq = v % per_producer;
      EXPECT_GT(seq, last[static_cast<std::size_t>(p)]);
      last[static_cast<std::size_t>(p)] = seq;
    }
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::ranges::sort(all);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(producers * per_producer));
  for (int i = 0; i < producers * per_producer; ++i) ASSERT_EQ(all[static_cast<std::size_t>(i)], i);
}

TEST_F(channel_test, SendSuspendsWhileFullAndResumesWhenAValueIsTaken) {
  run([]() -> task<void> {
    channel<std::string> ch(2);
    CO_ASSERT(co_await ch.send("a"));
    CO_ASSERT(co_await ch.send("b"));
    bool sent = false;
    scope s;
    s.spawn_local([](channel<std::string>& ch, bool& sent) -> task<void> {
      auto r = co_await ch.send("c");
      EXPECT_TRUE(r);
      sent = true;
    }(ch, sent));
    // The child runs on this worker's next turn, before we do, and suspends.
    co_await yield();
    EXPECT_FALSE(sent);
    EXPECT_EQ(ch.senders_waiting(), 1u);
    EXPECT_EQ(ch.size(), 2u);
    auto a = co_await ch.receive();
    CO_ASSERT(a);
    EXPECT_EQ(*a, "a");
    // Its value took the freed place at once, behind "b".
    EXPECT_EQ(ch.senders_waiting(), 0u);
    EXPECT_EQ(ch.size(), 2u);
    co_await s.join();
    EXPECT_TRUE(sent);
    auto b = co_await ch.receive();
    auto c = co_await ch.receive();
    CO_ASSERT(b && c);
    EXPECT_EQ(*b, "b");
    EXPECT_EQ(*c, "c");
  }());
}

TEST_F(channel_test, TrySendNeverSuspendsAndMovesOnlyOnSuccess) {
  run([]() -> task<void> {
    channel<std::string> ch(1);
    auto empty = ch.try_receive();
    CO_ASSERT(!empty);
    EXPECT_EQ(empty.error(), std::errc::resource_unavailable_try_again);
    std::string first = "first", second = "second";
    EXPECT_TRUE(ch.try_send(std::move(first)));
    auto full = ch.try_send(std::move(second));
    CO_ASSERT(!full);
    EXPECT_EQ(full.error(), std::errc::resource_unavailable_try_again);
    EXPECT_EQ(second, "second");  // not moved from: the caller still has it
    std::string copy = "copy";
    ch.close();
    auto closed = ch.try_send(copy);
    CO_ASSERT(!closed);
    EXPECT_EQ(closed.error(), errc::not_open);
    EXPECT_EQ(copy, "copy");
    auto v = ch.try_receive();
    CO_ASSERT(v);
    EXPECT_EQ(*v, "first");
    auto after = ch.try_receive();
    CO_ASSERT(!after);
    EXPECT_EQ(after.error(), errc::not_open);
  }());
}

TEST_F(channel_test, TrySendFromAPlainThreadWakesAReceiver) {
  run([]() -> task<void> {
    channel<int> ch(1);
    scope s;
    int got = 0;
    s.spawn([](channel<int>& ch, int& got) -> task<void> {
      auto v = co_await ch.receive();
      EXPECT_TRUE(v);
      if (v) got = *v;
    }(ch, got));
    co_await until([&] { return ch.receivers_waiting() == 1; });
    std::thread([&ch] { EXPECT_TRUE(ch.try_send(42)); }).join();
    co_await s.join();
    EXPECT_EQ(got, 42);
  }());
}

TEST_F(channel_test, ReceiversDrainBufferedValuesAfterClose) {
  run([]() -> task<void> {
    channel<int> ch(4);
    for (int i = 0; i < 3; ++i) CO_ASSERT(co_await ch.send(i));
    ch.close();
    EXPECT_TRUE(ch.is_closed());
    auto s = co_await ch.send(9);
    CO_ASSERT(!s);
    EXPECT_EQ(s.error(), errc::not_open);
    for (int i = 0; i < 3; ++i) {
      auto v = co_await ch.receive();
      CO_ASSERT(v);
      EXPECT_EQ(*v, i);
    }
    auto end = co_await ch.receive();
    CO_ASSERT(!end);
    EXPECT_EQ(end.error(), errc::not_open);
  }());
}

TEST_F(channel_test, CloseWakesEverySuspendedSenderAndReceiverOnSeveralWorkers) {
  constexpr int n = 16;
  std::atomic<int> senders_closed{0}, receivers_closed{0}, drained{0};
  run([](std::atomic<int>& senders_closed, std::atomic<int>& receivers_closed,
         std::atomic<int>& drained) -> task<void> {
    channel<counted> full(1), empty(1);
    CO_ASSERT(co_await full.send(counted{}));
    scope s;
    for (int i = 0; i < n; ++i) {
      s.spawn([](channel<counted>& full, std::atomic<int>& closed) -> task<void> {
        auto r = co_await full.send(counted{});
        EXPECT_FALSE(r);
        if (!r && r.error() == errc::not_open) closed.fetch_add(1);
      }(full, senders_closed));
      s.spawn([](channel<counted>& empty, std::atomic<int>& closed) -> task<void> {
        auto r = co_await empty.receive();
        EXPECT_FALSE(r);
        if (!r && r.error() == errc::not_open) closed.fetch_add(1);
      }(empty, receivers_closed));
    }
    co_await until([&] {
      return full.senders_waiting() == n && empty.receivers_waiting() == n;
    });
    // Closed from a thread that is not a worker: every waiter is resumed on
    // its own worker through the cross-thread wake-up.
    std::thread([&] {
      full.close();
      empty.close();
    }).join();
    co_await s.join();
    EXPECT_EQ(full.senders_waiting(), 0u);
    // The value buffered before the close is still there, then the end.
    auto v = co_await full.receive();
    if (v) drained.fetch_add(1);
    auto end = co_await full.receive();
    EXPECT_FALSE(end);
  }(senders_closed, receivers_closed, drained));
  EXPECT_EQ(senders_closed.load(), n);
  EXPECT_EQ(receivers_closed.load(), n);
  EXPECT_EQ(drained.load(), 1);
}

// A stop on a suspended receive resumes it with operation_canceled; the next
// value is not lost but goes to the next receive.
TEST_F(channel_test, SuspendedReceiveIsCancelledByItsStopToken) {
  run([]() -> task<void> {
    channel<int> ch(2);
    std::stop_source stop;
    result<int> got = 0;
    scope s;
    s.spawn([](channel<int>& ch, std::stop_token tok, result<int>& got) -> task<void> {
      got = co_await ch.receive(tok);
    }(ch, stop.get_token(), got));
    co_await until([&] { return ch.receivers_waiting() == 1; });
    std::thread([&] { stop.request_stop(); }).join();
    co_await s.join();
    CO_ASSERT(!got);
    EXPECT_EQ(got.error(), std::errc::operation_canceled);
    EXPECT_EQ(ch.receivers_waiting(), 0u);
    CO_ASSERT(ch.try_send(7));
    auto v = co_await ch.receive();
    CO_ASSERT(v);
    EXPECT_EQ(*v, 7);
  }());
}

TEST_F(channel_test, SuspendedSendIsCancelledAndItsValueIsNotSent) {
  run([]() -> task<void> {
    channel<counted> ch(1);
    CO_ASSERT(co_await ch.send(counted{}));
    std::stop_source stop;
    result<void> sent;
    scope s;
    s.spawn([](channel<counted>& ch, std::stop_token tok, result<void>& sent) -> task<void> {
      sent = co_await ch.send(counted{}, tok);
    }(ch, stop.get_token(), sent));
    co_await until([&] { return ch.senders_waiting() == 1; });
    stop.request_stop();
    co_await s.join();
    CO_ASSERT(!sent);
    EXPECT_EQ(sent.error(), std::errc::operation_canceled);
    EXPECT_EQ(ch.size(), 1u);
    EXPECT_EQ(counted::live.load(), 1);  // the cancelled value died with its frame
    CO_ASSERT(co_await ch.receive());
    EXPECT_EQ(ch.size(), 0u);
  }());
}

TEST_F(channel_test, StopRequestedBeforeTheWaitCancelsWithoutTouchingTheChannel) {
  run([]() -> task<void> {
    channel<int> ch(1);
    CO_ASSERT(ch.try_send(1));
    std::stop_source stop;
    stop.request_stop();
    auto r = co_await ch.receive(stop.get_token());
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
    auto s = co_await ch.send(2, stop.get_token());
    CO_ASSERT(!s);
    EXPECT_EQ(s.error(), std::errc::operation_canceled);
    EXPECT_EQ(ch.size(), 1u);
  }());
}

// A wake-up and a stop race on two threads, many times: exactly one of
// them resumes the receiver, and the value is neither lost nor duplicated.
TEST_F(channel_test, StopRacingAWakeUpResumesTheReceiverExactlyOnce) {
  run(
      []() -> task<void> {
        constexpr int rounds = 2000;
        channel<int> ch(1);
        int delivered = 0, cancelled = 0;
        for (int i = 0; i < rounds; ++i) {
          std::stop_source stop;
          result<int> got = -1;
          scope s;
          s.spawn([](channel<int>& ch, std::stop_token tok, result<int>& got) -> task<void> {
            got = co_await ch.receive(tok);
          }(ch, stop.get_token(), got));
          co_await until([&] { return ch.receivers_waiting() == 1; });
          // Both from other threads, at once.
          std::thread sender([&] { EXPECT_TRUE(ch.try_send(i)); });
          std::thread stopper([&] { stop.request_stop(); });
          sender.join();
          stopper.join();
          co_await s.join();
          if (got) {
            EXPECT_EQ(*got, i);
            EXPECT_EQ(ch.size(), 0u);
            ++delivered;
          } else {
            EXPECT_EQ(got.error(), std::errc::operation_canceled);
            auto left = ch.try_receive();  // the value waits in the channel
            EXPECT_TRUE(left && *left == i);
            ++cancelled;
          }
        }
        EXPECT_EQ(delivered + cancelled, rounds);
      }(),
      std::chrono::seconds(60));
}

TEST_F(channel_test, BufferedValuesAreDestroyedWithTheChannel) {
  run([]() -> task<void> {
    {
      channel<counted> ch(4);
      for (int i = 0; i < 3; ++i) CO_ASSERT(ch.try_send(counted{}));
      EXPECT_EQ(counted::live.load(), 3);
    }
    EXPECT_EQ(counted::live.load(), 0);
  }());
}

// Every hand-off wakes a coroutine suspended on the other worker, which is
// then idle in its poll: a lost cross-thread wake-up hangs this test.
TEST_F(channel_test, PingPongBetweenTwoWorkersNeverLosesAWakeUp) {
  run([]() -> task<void> {
    constexpr int rounds = 20000;
    channel<int> ping(1), pong(1);
    scope s;
    // Two spawns in a row land on the two workers (round-robin).
    s.spawn([](channel<int>& ping, channel<int>& pong) -> task<void> {
      for (;;) {
        auto v = co_await ping.receive();
        if (!v) co_return;
        EXPECT_TRUE(co_await pong.send(*v + 1));
      }
    }(ping, pong));
    s.spawn([](channel<int>& ping, channel<int>& pong) -> task<void> {
      for (int i = 0; i < rounds; i += 2) {
        CO_ASSERT(co_await ping.send(i));
        auto back = co_await pong.receive();
        CO_ASSERT(back && *back == i + 1);
      }
      ping.close();
    }(ping, pong));
    co_await s.join();
  }());
}

TEST_F(channel_test, ZeroCapacityIsRejected) {
  EXPECT_THROW(channel<int>(0), std::invalid_argument);
}

}  // namespace
}  // namespace corio::test
