// tests/net/pooled_read_test.cpp: read_pooled, reads into runtime-owned
// buffers. On io_uring each test runs three times: with the worker's
// buffer ring as made by default, with a ring of 4 buffers (so that a few
// connections exhaust it and reads fall back to the pool), and without a
// ring (CORIO_TEST_URING_BUFFER_RING=0: a kernel without provided-buffer
// rings, where reads poll and read into the pool). epoll and IOCP always
// read through their pool: they run the first variant and skip the others.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/loopback.hpp"
#include "support/ring_variants.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

std::string_view text(const io::pooled_buffer& b) {
  return {reinterpret_cast<const char*>(b.bytes().data()), b.size()};
}

class pooled_read_test : public ring_variant_test {};

TEST_P(pooled_read_test, ReadsWhatArrivedThenAnEmptyBufferAtTheEnd) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    CO_ASSERT(co_await client.write_all(std::string_view("hello")));
    auto got = co_await server.read_pooled();
    CO_ASSERT(got);
    EXPECT_EQ(text(*got), "hello");
    got->reset();
    EXPECT_TRUE(got->empty());
    CO_ASSERT(client.shutdown());
    auto end = co_await server.read_pooled();
    CO_ASSERT(end);
    EXPECT_TRUE(end->empty()) << "orderly EOF is an empty buffer";
  }());
}

// A message larger than one buffer comes in several reads, in order.
TEST_P(pooled_read_test, LargeMessageArrivesWholeOverSeveralBuffers) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    const auto sent = random_bytes(100 * 1024, 7);
    scope s;
    s.spawn_local([](net::tcp_stream& c, const std::vector<std::byte>& bytes) -> task<void> {
      EXPECT_TRUE(co_await c.write_all(bytes));
      EXPECT_TRUE(c.shutdown());
    }(client, sent));
    std::vector<std::byte> received;
    for (;;) {
      auto got = co_await server.read_pooled();
      CO_ASSERT(got);
      if (got->empty()) break;
      EXPECT_LE(got->size(), 16u * 1024);
      received.insert(received.end(), got->bytes().begin(), got->bytes().end());
    }
    co_await s.join();
    EXPECT_TRUE(received == sent) << "received " << received.size() << " of " << sent.size();
  }());
}

TEST_P(pooled_read_test, BufferHeldAcrossAwaitsKeepsItsBytes) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    CO_ASSERT(co_await client.write_all(std::string_view("first")));
    auto first = co_await server.read_pooled();
    CO_ASSERT(first);
    // Held over a sleep, a yield and more reads into other buffers.
    co_await sleep_for(1ms);
    co_await yield();
    for (int i = 0; i < 8; ++i) {
      const std::string msg = "next " + std::to_string(i);
      CO_ASSERT(co_await client.write_all(msg));
      auto next = co_await server.read_pooled();
      CO_ASSERT(next);
      EXPECT_EQ(text(*next), msg);
    }
    EXPECT_EQ(text(*first), "first");
    io::pooled_buffer moved = std::move(*first);
    EXPECT_TRUE(first->empty());
    EXPECT_EQ(text(moved), "first");
  }());
}

// More connections with data than the ring has buffers, every buffer held:
// the reads past the ring's take pool buffers; nothing is lost, nothing is
// mixed up, and a read that then waits for data does not spin.
TEST_P(pooled_read_test, MoreConnectionsWithDataThanBuffers) {
  run([](runtime& rt) -> task<void> {
    constexpr int n = 12;
    std::vector<stream_pair> pairs;
    for (int i = 0; i < n; ++i) pairs.push_back(co_await connected_pair());
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < n; ++i) {
        CO_ASSERT(co_await pairs[i].client.write_all("conn " + std::to_string(i) + " round " +
                                                     std::to_string(round)));
      }
      std::vector<io::pooled_buffer> held;
      for (int i = 0; i < n; ++i) {
        auto got = co_await pairs[i].server.read_pooled();
        CO_ASSERT(got);
        held.push_back(std::move(*got));
      }
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(text(held[i]), "conn " + std::to_string(i) + " round " + std::to_string(round));
      }
      if (round == 1) {
        // Every buffer still held: a read with no data waits (its loop
        // idle, not spinning on an empty ring), then gets what comes.
        scope s;
        result<io::pooled_buffer> late = fail(errc::not_open);
        s.spawn_local([](net::tcp_stream& server,
                         result<io::pooled_buffer>& late) -> task<void> {
          late = co_await server.read_pooled();
        }(pairs[0].server, late));
        while (rt.operations_in_flight() < 1) co_await yield();
        const std::uint64_t turns_before = rt.metrics().total.turns;
        co_await sleep_for(20ms);
        const std::uint64_t turns = rt.metrics().total.turns - turns_before;
        EXPECT_LT(turns, 200u) << "the workers turned " << turns
                               << " times in 20 ms while a read waited: a busy loop";
        CO_ASSERT(co_await pairs[0].client.write_all(std::string_view("late")));
        co_await s.join();
        CO_ASSERT(late);
        EXPECT_EQ(text(*late), "late");
      }
    }  // the held buffers go back here; round 1 reads into them again
  }(*rt_));
}

// A connection closed while it owns buffers: what it read stays readable
// until released (after the close), and its read in flight ends cancelled.
TEST_P(pooled_read_test, ClosedWhileItOwnsBuffers) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    CO_ASSERT(co_await client.write_all(std::string_view("one")));
    auto one = co_await server.read_pooled();
    CO_ASSERT(one);
    CO_ASSERT(co_await client.write_all(std::string_view("two")));
    auto two = co_await server.read_pooled();
    CO_ASSERT(two);
    scope s;
    result<io::pooled_buffer> pending = fail(errc::not_open);
    s.spawn_local([](net::tcp_stream& server, result<io::pooled_buffer>& pending) -> task<void> {
      pending = co_await server.read_pooled();
    }(server, pending));
    while (rt.operations_in_flight() < 1) co_await yield();
    server.close();
    co_await s.join();
    CO_ASSERT(!pending);
    EXPECT_EQ(pending.error(), std::errc::operation_canceled);
    client.close();
    EXPECT_EQ(text(*one), "one");
    EXPECT_EQ(text(*two), "two");
  }(*rt_));  // released here, after both ends closed (ASan: no leak, no use after free)
}

// A buffer may outlive the runtime that filled it, and be released on a
// thread that is not a worker.
TEST_P(pooled_read_test, BufferOutlivesItsRuntimeAndIsReleasedElsewhere) {
  io::pooled_buffer kept;
  {
    auto other = make_variant_runtime();
    kept = test::run(*other, []() -> task<io::pooled_buffer> {
      auto [client, server] = co_await connected_pair();
      EXPECT_TRUE(co_await client.write_all(std::string_view("survivor")));
      auto got = co_await server.read_pooled();
      if (!got) co_return io::pooled_buffer();
      co_return std::move(*got);
    }());
  }
  EXPECT_EQ(text(kept), "survivor");
  std::thread([&kept] { kept.reset(); }).join();
  EXPECT_TRUE(kept.empty());
}

// Buffers released on another thread go back to their worker, which reads
// into them again.
TEST_P(pooled_read_test, BuffersReleasedOnAnotherThreadAreReused) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    for (int round = 0; round < 3; ++round) {
      std::vector<io::pooled_buffer> held;
      for (int i = 0; i < 6; ++i) {
        CO_ASSERT(co_await client.write_all(std::to_string(round * 10 + i)));
        auto got = co_await server.read_pooled();
        CO_ASSERT(got);
        EXPECT_EQ(text(*got), std::to_string(round * 10 + i));
        held.push_back(std::move(*got));
      }
      std::thread([&held] { held.clear(); }).join();
    }
  }());
}

TEST_P(pooled_read_test, TimeoutAndStopLeaveTheStreamUsable) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    auto t = co_await with_timeout(server.read_pooled(), 5ms);
    CO_ASSERT(!t);
    EXPECT_EQ(t.error(), errc::timed_out);
    std::stop_source stop;
    stop.request_stop();
    auto c = co_await with_stop(server.read_pooled(), stop.get_token());
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::operation_canceled);
    CO_ASSERT(co_await client.write_all(std::string_view("after")));
    auto got = co_await with_stop(with_timeout(server.read_pooled(), 10s), std::stop_token());
    CO_ASSERT(got);
    EXPECT_EQ(text(*got), "after");
  }());
}

TEST_P(pooled_read_test, CountsAsAReadForTheOneReadAtATimeRule) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    scope s;
    s.spawn_local([](net::tcp_stream& server) -> task<void> {
      (void)co_await server.wait_readable();
    }(server));
    co_await yield();
    auto refused = co_await server.read_pooled();
    CO_ASSERT(!refused);
    EXPECT_EQ(refused.error(), errc::concurrent_operation);
    CO_ASSERT(client.shutdown());
    co_await s.join();
    net::tcp_stream closed;
    auto not_open = co_await closed.read_pooled();
    CO_ASSERT(!not_open);
    EXPECT_EQ(not_open.error(), errc::not_open);
  }());
}

INSTANTIATE_TEST_SUITE_P(Rings, pooled_read_test, ::testing::ValuesIn(ring_variants),
                         ring_variant_name);

}  // namespace
}  // namespace corio::test
