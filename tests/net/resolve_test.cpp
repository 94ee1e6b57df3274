// tests/net/resolve_test.cpp: net::resolve and its error category.
#include <gtest/gtest.h>

#include <string>

#include "corio/blocking.hpp"
#include "corio/net/resolve.hpp"
#include "net/lookup.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

bool is_loopback(const net::endpoint& ep) {
  if (ep.is_v4()) return ep.bytes()[0] == 127;
  return ep == net::endpoint::loopback_v6(ep.port());
}

class resolve_test : public runtime_test {};

TEST_F(resolve_test, LocalhostGivesLoopbackAddresses) {
  run([]() -> task<void> {
    auto r = co_await net::resolve("localhost", "8080");
    CO_ASSERT(r);
    CO_ASSERT(!r->empty());
    for (const auto& ep : *r) {
      EXPECT_TRUE(is_loopback(ep)) << ep.to_string();
      EXPECT_EQ(ep.port(), 8080);
    }
  }());
}

TEST_F(resolve_test, NumericHostsAreParsedWithoutThePool) {
  run([](runtime& rt) -> task<void> {
    auto v4 = co_await net::resolve("127.0.0.1", "80");
    CO_ASSERT(v4 && v4->size() == 1);
    EXPECT_EQ(v4->front(), net::endpoint::loopback_v4(80));
    auto v6 = co_await net::resolve("::1", "443");
    CO_ASSERT(v6 && v6->size() == 1);
    EXPECT_EQ(v6->front(), net::endpoint::loopback_v6(443));
    auto bracketed = co_await net::resolve("[::1]");
    CO_ASSERT(bracketed && bracketed->size() == 1);
    EXPECT_EQ(bracketed->front(), net::endpoint::loopback_v6(0));
    EXPECT_EQ(rt.blocking_threads(), 0u);
  }(rt));
}

TEST_F(resolve_test, HostileNamesGiveErrorsWithoutReachingTheSystem) {
  run([](runtime& rt) -> task<void> {
    const std::string huge(10 * 1024, 'a');
    const std::string with_nul("local\0host", 10);
    std::string long_label(64, 'b');
    long_label += ".example";  // (string + literal trips GCC 12's -Warray-bounds here)
    const std::string bad_utf8 = "\xff\xfe.example";
    const std::string overlong_utf8 = "\xc0\xaf.example";  // "/" spelt in two bytes
    for (const std::string& host : {std::string(), huge, with_nul, long_label, bad_utf8, overlong_utf8}) {
      auto r = co_await net::resolve(host, "80");
      CO_ASSERT(!r);
      EXPECT_EQ(r.error(), net::resolve_errc::invalid_name) << host.size();
      EXPECT_EQ(r.error(), std::errc::invalid_argument);
    }
    const std::string service_with_nul("8\0", 2);
    for (const std::string& service : {std::string("99999"), std::string("-1"), huge, service_with_nul,
                                       std::string("h ttp")}) {
      auto r = co_await net::resolve("localhost", service);
      CO_ASSERT(!r);
      EXPECT_EQ(r.error(), net::resolve_errc::service_not_found) << service.size();
    }
    // None of them started a pool thread.
    EXPECT_EQ(rt.blocking_threads(), 0u);
  }(rt));
}

TEST_F(resolve_test, NonAsciiNamesReachTheSystemAndFailCleanly) {
  run([]() -> task<void> {
    // A well-formed UTF-8 name under the reserved .invalid domain (RFC
    // 6761): never an address. Bounded, in case a name server is slow.
    auto r = co_await with_timeout(net::resolve("b\xc3\xbc" "cher.invalid", "80"), 10s);
    EXPECT_FALSE(r);
  }());
}

TEST_F(resolve_test, StopBeforeTheStartCancels) {
  run([]() -> task<void> {
    std::stop_source stop;
    stop.request_stop();
    auto r = co_await with_stop(net::resolve("localhost", "80"), stop.get_token());
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
  }());
}

TEST(resolve_pool, AQueuedLookupIsCancelledAtOnce) {
  auto rt = runtime::create({.threads = 1, .blocking_threads = 1});
  ASSERT_TRUE(rt);
  test::run(*rt, []() -> task<void> {
    std::mutex mu;
    std::condition_variable cv;
    bool running = false, release = false;
    scope s;
    // Holds the pool's only thread, so the lookup waits in the queue.
    s.spawn_local([](std::mutex& mu, std::condition_variable& cv, bool& running,
                     bool& release) -> task<void> {
      (void)co_await spawn_blocking([&] {
        std::unique_lock lock(mu);
        running = true;
        cv.notify_all();
        cv.wait_for(lock, std::chrono::seconds(20), [&] { return release; });
      });
    }(mu, cv, running, release));
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (running) break;
      }
      co_await yield();
    }
    std::stop_source stop;
    std::optional<net::resolve_result> out;
    s.spawn_local([](std::stop_token tok, std::optional<net::resolve_result>& out) -> task<void> {
      out = co_await with_stop(net::resolve("localhost", "80"), tok);
    }(stop.get_token(), out));
    co_await yield();
    stop.request_stop();
    while (!out) co_await yield();
    {
      std::lock_guard lock(mu);
      EXPECT_FALSE(release);  // resumed while the pool was still busy
      release = true;
      cv.notify_all();
    }
    co_await s.join();
    CO_ASSERT(!*out);
    EXPECT_EQ(out->error(), std::errc::operation_canceled);
  }());
}

// Holds lookups on the pool thread until released.
struct held_lookups {
  static inline std::mutex mu;
  static inline std::condition_variable cv;
  static inline bool entered = false, released = false;
  static void hold() {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(20), [] { return released; });
  }
};

TEST_F(resolve_test, AStoppedLookupAlreadyRunningIsAbandoned) {
  held_lookups::entered = held_lookups::released = false;
  net::detail_lookup::before_lookup = &held_lookups::hold;
  run([]() -> task<void> {
    std::stop_source stop;
    std::optional<net::resolve_result> out;
    scope s;
    s.spawn_local([](std::stop_token tok, std::optional<net::resolve_result>& out) -> task<void> {
      out = co_await with_stop(net::resolve("localhost", "80"), tok);
    }(stop.get_token(), out));
    for (;;) {
      {
        std::lock_guard lock(held_lookups::mu);
        if (held_lookups::entered) break;
      }
      co_await yield();
    }
    stop.request_stop();
    co_await s.join();
    // Resumed while getaddrinfo's stand-in still blocks its pool thread.
    {
      std::lock_guard lock(held_lookups::mu);
      EXPECT_FALSE(held_lookups::released);
      held_lookups::released = true;
      held_lookups::cv.notify_all();
    }
    CO_ASSERT(out && !*out);
    EXPECT_EQ(out->error(), std::errc::operation_canceled);
  }());
  net::detail_lookup::before_lookup = nullptr;
}

TEST(resolve_category, MessagesAndEquivalents) {
  using net::resolve_errc;
  const std::error_code again = resolve_errc::try_again;
  EXPECT_EQ(again, std::errc::resource_unavailable_try_again);
  EXPECT_EQ(std::error_code(resolve_errc::out_of_memory), std::errc::not_enough_memory);
  EXPECT_NE(std::error_code(resolve_errc::host_not_found), std::errc::invalid_argument);
  EXPECT_STREQ(again.category().name(), "corio.resolve");
  for (int e = 1; e <= static_cast<int>(resolve_errc::out_of_memory); ++e) {
    EXPECT_NE(std::error_code(e, net::resolve_category()).message(), "unknown resolver error");
  }
}

}  // namespace
}  // namespace corio::test
