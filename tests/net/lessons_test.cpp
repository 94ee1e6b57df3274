// tests/net/lessons_test.cpp: the lessons of docs/lessons.md, each
// proven on the backend under test.
#include <gtest/gtest.h>

#include "corio/testing.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class lessons_test : public runtime_test {};

// Lesson 1: a second read on a half with a read in flight is refused before
// it reaches the kernel, and the first read still gets every byte.
TEST_F(lessons_test, SecondConcurrentReadIsRefusedAndNoByteIsLost) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::string first(5, '\0');
    result<std::size_t> first_result = 0;
    scope s;
    s.spawn_local([](net::tcp_stream& server, std::string& buf,
                     result<std::size_t>& out) -> task<void> {
      out = co_await server.read(buf);
    }(server, first, first_result));
    co_await yield();  // the reader runs first and suspends in its read
    std::array<char, 5> second;
    auto refused = co_await server.read(second);
    CO_ASSERT(!refused);
    EXPECT_EQ(refused.error(), errc::concurrent_operation);
    auto w = co_await client.write(std::string_view("hello"));
    EXPECT_TRUE(w);
    co_await s.join();
    CO_ASSERT(first_result);
    EXPECT_EQ(first.substr(0, *first_result), std::string("hello").substr(0, *first_result));
    // The refused read released nothing: the stream still reads normally.
    client.shutdown();
    std::array<char, 8> rest;
    std::size_t total = *first_result;
    for (;;) {
      auto n = co_await server.read(rest);
      CO_ASSERT(n);
      if (*n == 0) break;
      total += *n;
    }
    EXPECT_EQ(total, 5u);
  }());
}

// Lesson 1, writes: the split halves read and write at once (full duplex)
// while each half stays one-at-a-time.
TEST_F(lessons_test, HalvesAllowOneReadAndOneWriteAtOnce) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    auto [rd, wr] = server.split();
    scope s;
    result<std::size_t> got = 0;
    s.spawn_local([](net::read_half rd, result<std::size_t>& got) -> task<void> {
      std::array<char, 4> buf;
      got = co_await rd.read(buf);
    }(rd, got));
    co_await yield();  // the read is in flight
    auto w = co_await wr.write(std::string_view("pong"));
    EXPECT_TRUE(w) << "a write must not be refused while a read is in flight";
    std::array<char, 4> buf;
    auto r = co_await client.read_exact(std::as_writable_bytes(std::span(buf)));
    EXPECT_TRUE(r);
    auto w2 = co_await client.write(std::string_view("ping"));
    EXPECT_TRUE(w2);
    co_await s.join();
    EXPECT_TRUE(got && *got > 0);
  }());
}

// Lesson 2: a submission that fails resumes the awaiter at once with the
// error; nothing waits for a completion that will never come, and the
// stream stays usable.
TEST_F(lessons_test, FailedSubmissionResumesAtOnceWithTheError) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<char, 4> buf;
    testing::fail_next_submissions(1);
    auto r = co_await server.read(buf);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::resource_unavailable_try_again);
    testing::fail_next_submissions(1);
    auto w = co_await client.write(std::string_view("late"));
    CO_ASSERT(!w);
    EXPECT_EQ(w.error(), std::errc::resource_unavailable_try_again);
    testing::fail_next_submissions(1);
    auto t = co_await sleep_for(std::chrono::milliseconds(1));
    EXPECT_FALSE(t);
    // After the failures both directions still work.
    auto w2 = co_await client.write(std::string_view("data"));
    EXPECT_TRUE(w2);
    auto r2 = co_await server.read_exact(std::as_writable_bytes(std::span(buf)));
    EXPECT_TRUE(r2);
    EXPECT_EQ(std::string_view(buf.data(), 4), "data");
  }());
}

TEST_F(lessons_test, FailedAcceptAndConnectSubmissionsResumeAtOnce) {
  run([]() -> task<void> {
    auto listener = listen_loopback();
    auto to = net::endpoint::loopback_v4(port_of(listener));
    testing::fail_next_submissions(1);
    auto c = co_await net::tcp_stream::connect(to);
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::resource_unavailable_try_again);
    testing::fail_next_submissions(1);
    auto a = co_await listener.accept();
    CO_ASSERT(!a);
    EXPECT_EQ(a.error(), std::errc::resource_unavailable_try_again);
  }());
}

// Lesson 3: the peer resets while a read and a write are both pending. Both
// complete (the reset reported to at least one; schedule shaking found that
// which one gets it depends on the order they started), and the
// connection's frame is freed once, after
// both, when its scope joins.
TEST_F(lessons_test, ResetWithReadAndWritePendingFreesTheFrameOnceAfterBoth) {
  std::atomic<int> read_errors{0}, write_errors{0}, resets{0};
  run([](runtime& rt, std::atomic<int>& read_errors, std::atomic<int>& write_errors,
         std::atomic<int>& resets) -> task<void> {
    auto [client, server] = co_await connected_pair();
    scope connections;
    connections.spawn_local([](net::tcp_stream s, counted frame_marker, std::atomic<int>& read_errors,
                               std::atomic<int>& write_errors,
                               std::atomic<int>& resets) -> task<void> {
      (void)frame_marker;
      auto [rd, wr] = s.split();
      scope halves;
      // The kernel reports the reset (ECONNRESET) to whichever of the two
      // pending operations it wakes first: the other then sees what is left
      // of the socket, the end of the stream for the read, EPIPE for the
      // write. Which one is first depends on the order in which they
      // started (schedule shaking varies it), so each counts its ending
      // and the resets are counted apart.
      halves.spawn_local([](net::read_half rd, std::atomic<int>& endings,
                            std::atomic<int>& resets) -> task<void> {
        std::array<char, 64> buf;
        for (;;) {
          auto n = co_await rd.read(buf);
          if (!n || *n == 0) {
            endings.fetch_add(1);
            if (!n && n.error() == std::errc::connection_reset) resets.fetch_add(1);
            co_return;
          }
        }
      }(rd, read_errors, resets));
      halves.spawn_local([](net::write_half wr, std::atomic<int>& errors,
                            std::atomic<int>& resets) -> task<void> {
        // The peer never reads: this fills the socket buffers and then
        // waits in the kernel.
        std::vector<std::byte> chunk(1 << 20);
        for (;;) {
          auto n = co_await wr.write(chunk);
          if (!n) {
            errors.fetch_add(1);
            if (n.error() == std::errc::connection_reset) resets.fetch_add(1);
            co_return;
          }
        }
      }(wr, write_errors, resets));
      co_await halves.join();
      EXPECT_EQ(counted::live.load(), 1) << "frame freed before its operations completed";
    }(std::move(server), counted{}, read_errors, write_errors, resets));
    // Wait (without sleeping) until both operations are in the kernel.
    while (rt.operations_in_flight() < 2) co_await yield();
    const int destroyed_before = counted::destroyed.load();
    abort_connection(client);
    co_await connections.join();
    EXPECT_EQ(counted::live.load(), 0);
    EXPECT_EQ(counted::destroyed.load(), destroyed_before + 1)
        << "the connection frame must be freed exactly once";
  }(rt, read_errors, write_errors, resets));
  EXPECT_EQ(read_errors.load(), 1) << "the read must end exactly once";
  EXPECT_EQ(write_errors.load(), 1) << "the write must fail exactly once";
  EXPECT_GE(resets.load(), 1) << "the reset was lost";
}

}  // namespace
}  // namespace corio::test
