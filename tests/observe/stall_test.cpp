// tests/observe/stall_test.cpp: the stall detector reports a worker held by
// one coroutine, once, and leaves a busy server doing short work alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

// What the log handler received that was about stalls.
struct stall_log {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<log_level, std::string>> lines;

  static stall_log& get() {
    static stall_log l;
    return l;
  }
  static void handler(log_level level, std::string_view message) noexcept {
    if (!message.starts_with("stall:")) return;
    auto& l = get();
    {
      std::lock_guard lock(l.mu);
      l.lines.emplace_back(level, std::string(message));
    }
    l.cv.notify_all();
  }
  std::size_t count(log_level level) {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(std::ranges::count_if(lines, [&](auto& x) { return x.first == level; }));
  }
  // Waits (bounded) for a line of `level`; true when there is one.
  bool wait_for(log_level level, std::chrono::seconds limit) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] {
      return std::ranges::any_of(lines, [&](auto& x) { return x.first == level; });
    });
  }
};

class stall_test : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      std::lock_guard lock(stall_log::get().mu);
      stall_log::get().lines.clear();
    }
    previous_ = set_log_handler(stall_log::handler);
  }
  void TearDown() override { set_log_handler(previous_); }
  log_handler previous_ = nullptr;
};

// The line of the co_await the blocking handler passes last.
std::uint32_t last_await_line = 0;

TEST_F(stall_test, ABlockingCoroutineIsReportedOnce) {
  auto rt = runtime::create({.threads = 1, .stall_threshold = std::chrono::milliseconds(50)});
  ASSERT_TRUE(rt);
  run(*rt, []() -> task<void> {
    last_await_line = __LINE__ + 1;
    co_await yield();
    // The deliberately blocking handler: 200 ms of busy loop without a
    // co_await, and on until the report came (bounded), so that a slow
    // monitor thread on a loaded machine cannot make the test miss it.
    const auto start = std::chrono::steady_clock::now();
    const auto give_up = start + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(200) ||
           (stall_log::get().count(log_level::warning) == 0 &&
            std::chrono::steady_clock::now() < give_up)) {
    }
    co_return;
  }());
  ASSERT_TRUE(stall_log::get().wait_for(log_level::warning, std::chrono::seconds(20)));
  // The return to the loop is reported too, after the loop turned.
  EXPECT_TRUE(stall_log::get().wait_for(log_level::info, std::chrono::seconds(20)));
  std::lock_guard lock(stall_log::get().mu);
  const auto& lines = stall_log::get().lines;
  ASSERT_EQ(std::ranges::count_if(lines, [](auto& x) { return x.first == log_level::warning; }), 1)
      << "one report per stall";
  const std::string& report = std::ranges::find_if(lines, [](auto& x) {
                                return x.first == log_level::warning;
                              })->second;
  EXPECT_NE(report.find("worker 0 has not returned to its loop for"), std::string::npos) << report;
  EXPECT_NE(report.find("threshold 50 ms"), std::string::npos) << report;
#if CORIO_TASK_TRACKING
  EXPECT_NE(report.find("stall_test.cpp:" + std::to_string(last_await_line)), std::string::npos)
      << report;
#else
  EXPECT_NE(report.find("location unknown"), std::string::npos) << report;
#endif
}

TEST_F(stall_test, ABusyServerDoingShortWorkIsNotReported) {
  // A generous threshold: short work never comes near it, while a worker
  // thread that the shared machine descheduled for a moment does not
  // either.
  auto rt = runtime::create({.threads = 2, .stall_threshold = std::chrono::milliseconds(500)});
  ASSERT_TRUE(rt);
  run(*rt, []() -> task<void> {
    scope s;
    // Many short tasks that yield, and connections echoing small messages.
    for (int i = 0; i < 2000; ++i) {
      s.spawn([]() -> task<void> {
        for (int k = 0; k < 5; ++k) co_await yield();
      }());
    }
    for (int i = 0; i < 8; ++i) {
      s.spawn([]() -> task<void> {
        auto [client, server] = co_await connected_pair();
        std::array<std::byte, 64> out{}, in{};
        for (int m = 0; m < 200; ++m) {
          CO_ASSERT(co_await client.write_all(out));
          CO_ASSERT(co_await server.read_exact(in));
          CO_ASSERT(co_await server.write_all(in));
          CO_ASSERT(co_await client.read_exact(out));
        }
      }());
    }
    co_await s.join();
  }());
  // The work was done: at least the four operations of each message.
  EXPECT_GE(rt->metrics().total.submissions, 8u * 200u * 4u);
  rt->shutdown();  // joins the monitor: every look it took is in the log now
  EXPECT_EQ(stall_log::get().count(log_level::warning), 0u);
}

}  // namespace
}  // namespace corio::test
