// tests/time/cancel_test.cpp: cancelling operations through stop tokens.
#include <gtest/gtest.h>

#include <thread>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class cancel_test : public runtime_test {};

// Waits, without sleeping, until `n` operations are in the kernel.
task<void> until_in_flight(runtime& rt, std::int64_t n) {
  while (rt.operations_in_flight() < n) co_await yield();
}

TEST_F(cancel_test, StopBeforeStartCompletesAtOnceAndNeverReachesTheKernel) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::stop_source stop;
    stop.request_stop();
    std::array<char, 8> buf;
    auto r = co_await with_stop(server.read(buf), stop.get_token());
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
    EXPECT_EQ(rt.operations_in_flight(), 0);
    auto t = co_await with_stop(sleep_for(std::chrono::hours(1)), stop.get_token());
    CO_ASSERT(!t);
    EXPECT_EQ(t.error(), std::errc::operation_canceled);
    // The stream is untouched: the next read gets the next bytes.
    (void)co_await client.write(std::string_view("abc"));
    auto n = co_await server.read(buf);
    CO_ASSERT(n);
    EXPECT_EQ(std::string_view(buf.data(), *n), "abc");
  }(rt));
}

// Cancels a pending read from `canceller`, then proves no byte is lost: data
// sent after the cancel is read by the next read.
template <class Canceller>
task<void> cancel_pending_read(runtime& rt, Canceller canceller) {
  auto [client, server] = co_await connected_pair();
  std::stop_source stop;
  result<std::size_t> got = 0;
  scope s;
  s.spawn_local([](net::tcp_stream& server, std::stop_token tok,
                   result<std::size_t>& got) -> task<void> {
    std::array<char, 8> buf;
    got = co_await with_stop(server.read(buf), tok);
  }(server, stop.get_token(), got));
  co_await until_in_flight(rt, 1);
  canceller(stop);
  co_await s.join();
  CO_ASSERT(!got);
  EXPECT_EQ(got.error(), std::errc::operation_canceled);
  EXPECT_EQ(rt.operations_in_flight(), 0);
  (void)co_await client.write(std::string_view("after"));
  std::array<char, 5> buf;
  auto r = co_await server.read_exact(std::as_writable_bytes(std::span(buf)));
  EXPECT_TRUE(r);
  EXPECT_EQ(std::string_view(buf.data(), 5), "after");
}

TEST_F(cancel_test, PendingReadCancelledOnItsWorker) {
  run(cancel_pending_read(rt, [](std::stop_source& s) { s.request_stop(); }));
}

TEST_F(cancel_test, PendingReadCancelledFromAnotherThread) {
  std::thread other;
  run(cancel_pending_read(rt, [&](std::stop_source& s) {
    other = std::thread([s]() mutable { s.request_stop(); });
  }));
  other.join();
}

TEST_F(cancel_test, PendingAcceptCancelled) {
  run([](runtime& rt) -> task<void> {
    auto listener = listen_loopback();
    std::stop_source stop;
    result<net::tcp_stream> got = fail(errc::not_open);
    scope s;
    s.spawn_local([](net::tcp_listener& l, std::stop_token tok,
                     result<net::tcp_stream>& got) -> task<void> {
      got = co_await with_stop(l.accept(), tok);
    }(listener, stop.get_token(), got));
    co_await until_in_flight(rt, 1);
    stop.request_stop();
    co_await s.join();
    CO_ASSERT(!got);
    EXPECT_EQ(got.error(), std::errc::operation_canceled);
    // The listener still accepts.
    auto c = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port_of(listener)));
    EXPECT_TRUE(c);
    auto a = co_await listener.accept();
    EXPECT_TRUE(a);
  }(rt));
}

// A write blocked on a full socket buffer, cancelled: every count the writes
// reported is exactly what the peer receives, nothing more, nothing less.
TEST_F(cancel_test, BlockedWriteCancelledReportsExactlyWhatWentOut) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::stop_source stop;
    std::size_t reported = 0;
    bool canceled = false;
    scope s;
    s.spawn_local([](net::tcp_stream& c, std::stop_token tok, std::size_t& reported,
                     bool& canceled) -> task<void> {
      auto chunk = random_bytes(256 * 1024, 3);
      for (;;) {
        auto n = co_await with_stop(c.write(chunk), tok);
        if (!n) {
          canceled = n.error() == std::errc::operation_canceled;
          co_return;
        }
        reported += *n;
      }
    }(client, stop.get_token(), reported, canceled));
    co_await until_in_flight(rt, 1);  // the peer never reads: the write waits
    stop.request_stop();
    co_await s.join();
    EXPECT_TRUE(canceled);
    client.shutdown();
    std::vector<std::byte> buf(1 << 16);
    std::size_t received = 0;
    for (;;) {
      auto n = co_await server.read(buf);
      CO_ASSERT(n);
      if (*n == 0) break;
      received += *n;
    }
    EXPECT_EQ(received, reported);
  }(rt));
}

TEST_F(cancel_test, ScopeStopCancelsEveryChildAndJoinsThem) {
  std::atomic<int> canceled{0};
  run([](runtime& rt, std::atomic<int>& canceled) -> task<void> {
    scope s;
    for (int i = 0; i < 100; ++i) {
      s.spawn([](std::stop_token tok, std::atomic<int>& canceled, counted) -> task<void> {
        auto r = co_await with_stop(sleep_for(std::chrono::hours(1)), tok);
        if (!r && r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
      }(s.token(), canceled, counted{}));
    }
    co_await until_in_flight(rt, 100);
    s.request_stop();
    co_await s.join();
    EXPECT_EQ(counted::live.load(), 0);
  }(rt, canceled));
  EXPECT_EQ(canceled.load(), 100);
}

// Shutdown with 1,000 open connections, each blocked in a read: stopping
// the scope cancels every read, every connection frame is freed, and
// nothing is left in flight.
constexpr int open_connections = 1000;

TEST_F(cancel_test, ShutdownWithAThousandOpenConnectionsFreesEveryFrame) {
  constexpr int connections = open_connections;
  std::atomic<int> cancelled{0};
  run(
      [](runtime& rt, std::atomic<int>& cancelled) -> task<void> {
        auto listener = listen_loopback();
        auto to = net::endpoint::loopback_v4(port_of(listener));
        std::vector<net::tcp_stream> clients;
        scope server;
        for (int i = 0; i < open_connections; ++i) {
          auto c = co_await net::tcp_stream::connect(to);
          CO_ASSERT(c);
          clients.push_back(std::move(*c));
          auto a = co_await listener.accept();
          CO_ASSERT(a);
          server.spawn([](net::tcp_stream s, std::stop_token stop, std::atomic<int>& cancelled,
                          counted) -> task<void> {
            std::array<char, 64> buf;
            auto n = co_await with_stop(s.read(buf), stop);
            if (!n && n.error() == std::errc::operation_canceled) cancelled.fetch_add(1);
          }(std::move(*a), server.token(), cancelled, counted{}));
        }
        co_await until_in_flight(rt, open_connections);
        EXPECT_EQ(counted::live.load(), open_connections);
        server.request_stop();
        co_await server.join();
        EXPECT_EQ(counted::live.load(), 0);
        EXPECT_EQ(rt.operations_in_flight(), 0);
      }(rt, cancelled),
      std::chrono::seconds(50));
  EXPECT_EQ(cancelled.load(), connections);
}

TEST_F(cancel_test, TenThousandTimersArmedAndCancelledAcrossWorkers) {
  std::atomic<int> canceled{0};
  run(
      [](runtime& rt, std::atomic<int>& canceled) -> task<void> {
        scope s;
        for (int i = 0; i < 10'000; ++i) {
          s.spawn([](std::stop_token tok, std::atomic<int>& canceled) -> task<void> {
            auto r = co_await with_stop(sleep_for(std::chrono::hours(1)), tok);
            if (!r) canceled.fetch_add(1);
          }(s.token(), canceled));
        }
        co_await until_in_flight(rt, 10'000);
        s.request_stop();
        co_await s.join();
      }(rt, canceled),
      std::chrono::seconds(50));
  EXPECT_EQ(canceled.load(), 10'000);
}


// Each worker keeps one list of operations per stop token it has seen and
// forgets the tokens nobody waits on: a stop still reaches every operation
// after many short-lived tokens, on every worker, including tokens whose
// list was forgotten while their source lived on.
TEST_F(cancel_test, ManyShortLivedTokensEachStillCancelEveryOperation) {
  std::atomic<int> canceled{0};
  run(
      [](runtime& rt, std::atomic<int>& canceled) -> task<void> {
        constexpr int rounds = 40, per_round = 4;  // spread over both workers
        std::vector<std::stop_source> kept;
        for (int round = 0; round < rounds; ++round) {
          std::stop_source stop;
          kept.push_back(stop);
          // A short operation on the token first, so its list exists, is
          // emptied, and is later forgotten while `kept` holds the source.
          CO_ASSERT(co_await with_stop(sleep_for(std::chrono::microseconds(1)), stop.get_token()));
          scope s;
          for (int i = 0; i < per_round; ++i) {
            s.spawn([](std::stop_token tok, std::atomic<int>& canceled) -> task<void> {
              auto r = co_await with_stop(sleep_for(std::chrono::hours(1)), tok);
              if (!r && r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
            }(stop.get_token(), canceled));
          }
          co_await until_in_flight(rt, per_round);
          stop.request_stop();
          co_await s.join();
        }
        // Old, unstopped tokens whose lists were forgotten: new operations
        // on them register afresh and are cancelled like any other.
        std::vector<std::stop_source> old;
        for (int i = 0; i < 8; ++i) old.emplace_back();
        for (auto& o : old) {
          CO_ASSERT(co_await with_stop(sleep_for(std::chrono::microseconds(1)), o.get_token()));
        }
        for (int i = 0; i < 12; ++i) {  // more tokens than a worker keeps
          std::stop_source fresh;
          CO_ASSERT(co_await with_stop(sleep_for(std::chrono::microseconds(1)), fresh.get_token()));
        }
        scope s;
        for (auto& o : old) {
          s.spawn([](std::stop_token tok, std::atomic<int>& canceled) -> task<void> {
            auto r = co_await with_stop(sleep_for(std::chrono::hours(1)), tok);
            if (!r && r.error() == std::errc::operation_canceled) canceled.fetch_add(1);
          }(o.get_token(), canceled));
        }
        co_await until_in_flight(rt, static_cast<std::int64_t>(old.size()));
        for (auto& o : old) o.request_stop();
        co_await s.join();
        for (auto& k : kept) k.request_stop();  // lists long gone: nothing to do
      }(rt, canceled),
      std::chrono::seconds(50));
  EXPECT_EQ(canceled.load(), 40 * 4 + 8);
}

// A stop that lands while operations are starting (another thread, no
// waiting for them to be in flight) is never lost: every operation ends.
TEST_F(cancel_test, StopRacingTheStartIsNeverLost) {
  std::atomic<int> ended{0};
  constexpr int rounds = 300;
  run(
      [](std::atomic<int>& ended) -> task<void> {
        for (int round = 0; round < rounds; ++round) {
          std::stop_source stop;
          scope s;
          for (int i = 0; i < 4; ++i) {
            s.spawn([](std::stop_token tok, std::atomic<int>& ended) -> task<void> {
              (void)co_await with_stop(sleep_for(std::chrono::hours(1)), tok);
              ended.fetch_add(1);
            }(stop.get_token(), ended));
          }
          std::thread stopper([stop]() mutable { stop.request_stop(); });
          co_await s.join();  // hangs (watchdog) if a stop was lost
          stopper.join();
        }
      }(ended),
      std::chrono::seconds(50));
  EXPECT_EQ(ended.load(), rounds * 4);
}

}  // namespace
}  // namespace corio::test
