// tests/observe/dump_test.cpp: runtime::dump() lists exactly the
// operations a test left pending (and, in CORIO_TASK_TRACKING builds, the
// co_await each task waits at).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

// Waits (bounded, no sleep) until `n` operations are in flight.
bool wait_in_flight(runtime& rt, std::int64_t n) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (rt.operations_in_flight() != n) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

// The line of the pending read's co_await, for the task-tracking check.
std::uint32_t pending_read_line = 0;

// Leaves three operations pending until stopped: a read on a connection
// that gets no data, an accept on a listener nobody connects to, an hour's
// timer. Fills `client_port` with the reading side's peer port.
task<void> leave_pending(std::stop_token stop, std::uint16_t* client_port,
                         std::uint16_t* listener_port) {
  auto [client, server] = co_await connected_pair();
  *client_port = client.local_endpoint()->port();
  auto idle = listen_loopback();
  *listener_port = port_of(idle);
  scope s;
  s.spawn([](net::tcp_stream& conn, std::stop_token stop) -> task<void> {
    std::array<std::byte, 64> buf;
    pending_read_line = __LINE__ + 1;
    auto n = co_await with_stop(conn.read(buf), stop);
    EXPECT_FALSE(n);
  }(server, stop));
  s.spawn([](net::tcp_listener& l, std::stop_token stop) -> task<void> {
    auto c = co_await with_stop(l.accept(), stop);
    EXPECT_FALSE(c);
  }(idle, stop));
  s.spawn([](std::stop_token stop) -> task<void> {
    co_await with_stop(sleep_for(std::chrono::hours(1)), stop);
  }(stop));
  co_await s.join();
}

TEST(dump_test, ListsExactlyTheOperationsLeftPending) {
  auto rt = runtime::create({.threads = 2, .track_operations = true});
  ASSERT_TRUE(rt);
  std::uint16_t client_port = 0, listener_port = 0;
  auto h = rt->spawn([&](std::stop_token stop) {
    return leave_pending(stop, &client_port, &listener_port);
  });
  ASSERT_TRUE(wait_in_flight(*rt, 3));
  const auto d = rt->dump();
  EXPECT_TRUE(d.operations_tracked);
  EXPECT_EQ(d.workers.size(), 2u);
  ASSERT_EQ(d.operations.size(), 3u) << format_dump(d);
  std::vector<std::string> kinds;
  for (const auto& op : d.operations) {
    kinds.emplace_back(op.kind);
    EXPECT_LT(op.worker, 2u);
    EXPECT_GE(op.waiting.count(), 0);
    if (op.kind == "recv") {
      EXPECT_GE(op.socket, 0);
      EXPECT_EQ(op.address, "peer 127.0.0.1:" + std::to_string(client_port)) << format_dump(d);
    } else if (op.kind == "accept") {
      EXPECT_EQ(op.address, "local 127.0.0.1:" + std::to_string(listener_port)) << format_dump(d);
    } else {
      EXPECT_EQ(op.socket, -1);
      EXPECT_EQ(op.address, "");
    }
  }
  std::ranges::sort(kinds);
  EXPECT_EQ(kinds, (std::vector<std::string>{"accept", "recv", "timer"}));
  const std::string text = format_dump(d);
  EXPECT_NE(text.find("operations in flight: 3"), std::string::npos) << text;
  EXPECT_NE(text.find("peer 127.0.0.1:" + std::to_string(client_port)), std::string::npos) << text;
#if CORIO_TASK_TRACKING
  ASSERT_TRUE(d.tasks_tracked);
  const auto at_read = std::ranges::find_if(d.tasks, [](const task_info& t) {
    return t.suspended && t.line == pending_read_line && t.file.ends_with("dump_test.cpp");
  });
  EXPECT_NE(at_read, d.tasks.end()) << text;
#else
  EXPECT_FALSE(d.tasks_tracked);
  EXPECT_TRUE(d.tasks.empty());
#endif
  h.cancel();
  EXPECT_TRUE(h.wait().has_value());
  EXPECT_TRUE(rt->dump().operations.empty());
  EXPECT_EQ(rt->operations_in_flight(), 0);
}

TEST(dump_test, OperationsFinishedAtOnceLeaveNoEntry) {
  // Reads that find their data already there finish inline: the table
  // must not keep them.
  auto rt = runtime::create({.threads = 1, .track_operations = true});
  ASSERT_TRUE(rt);
  run(*rt, []() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<std::byte, 16> buf{};
    for (int i = 0; i < 100; ++i) {
      CO_ASSERT(co_await client.write_all(buf));
      CO_ASSERT(co_await server.read_exact(buf));
    }
  }());
  EXPECT_TRUE(rt->dump().operations.empty());
  EXPECT_EQ(rt->metrics().total.submissions,
            rt->metrics().total.inline_completions + rt->metrics().total.completions);
}

TEST(dump_test, WithoutTrackingListsNoOperations) {
  auto rt = runtime::create({.threads = 1});
  ASSERT_TRUE(rt);
  auto h = rt->spawn([](std::stop_token stop) -> task<void> {
    co_await with_stop(sleep_for(std::chrono::hours(1)), stop);
  });
  ASSERT_TRUE(wait_in_flight(*rt, 1));
  const auto d = rt->dump();
  EXPECT_FALSE(d.operations_tracked);
  EXPECT_TRUE(d.operations.empty());
  EXPECT_NE(format_dump(d).find("not tracked"), std::string::npos);
  h.cancel();
  EXPECT_TRUE(h.wait().has_value());
}

}  // namespace
}  // namespace corio::test
