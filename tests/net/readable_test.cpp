// tests/net/readable_test.cpp: waiting for data without a buffer.
#include <gtest/gtest.h>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class readable_test : public runtime_test {};

TEST_F(readable_test, CompletesWhenDataArrivesAndConsumesNothing) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    scope s;
    result<void> ready = fail(errc::not_open);
    s.spawn_local([](net::tcp_stream& server, result<void>& ready) -> task<void> {
      ready = co_await server.wait_readable();
    }(server, ready));
    while (rt.operations_in_flight() < 1) co_await yield();
    (void)co_await client.write(std::string_view("data"));
    co_await s.join();
    EXPECT_TRUE(ready);
    std::array<char, 4> buf;
    auto n = co_await server.read_exact(buf);
    EXPECT_TRUE(n);
    EXPECT_EQ(std::string_view(buf.data(), 4), "data");
  }(rt));
}

TEST_F(readable_test, EndOfStreamCountsAsReadable) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    client.shutdown();
    auto ready = co_await server.wait_readable();
    EXPECT_TRUE(ready);
    std::array<char, 4> buf;
    auto n = co_await server.read(buf);
    CO_ASSERT(n);
    EXPECT_EQ(*n, 0u);
  }());
}

TEST_F(readable_test, CancelledAndTimedOutLikeAnyOperation) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    auto t = co_await with_timeout(server.wait_readable(), 5ms);
    CO_ASSERT(!t);
    EXPECT_EQ(t.error(), errc::timed_out);
    std::stop_source stop;
    stop.request_stop();
    auto c = co_await with_stop(server.wait_readable(), stop.get_token());
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::operation_canceled);
    // A read is still possible, and gets what comes next.
    (void)co_await client.write(std::string_view("x"));
    std::array<char, 1> buf;
    auto n = co_await server.read(buf);
    EXPECT_TRUE(n && *n == 1);
  }());
}

TEST_F(readable_test, CountsAsAReadForTheOneReadAtATimeRule) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    scope s;
    s.spawn_local([](net::tcp_stream& server) -> task<void> {
      (void)co_await server.wait_readable();
    }(server));
    co_await yield();
    std::array<char, 1> buf;
    auto refused = co_await server.read(buf);
    CO_ASSERT(!refused);
    EXPECT_EQ(refused.error(), errc::concurrent_operation);
    client.shutdown();
    co_await s.join();
  }());
}

}  // namespace
}  // namespace corio::test
