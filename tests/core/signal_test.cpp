// tests/core/signal_test.cpp: ctrl_c() for graceful shutdown.
#include <gtest/gtest.h>

#include <csignal>

#include "corio/testing.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class signal_test : public runtime_test {};

TEST_F(signal_test, WaiterWakesOnTheSignal) {
  auto got = run([]() -> task<result<shutdown_signal>> {
    scope s;
    result<shutdown_signal> got = fail(errc::not_open);
    s.spawn_local([](result<shutdown_signal>& got) -> task<void> {
      got = co_await ctrl_c();
    }(got));
    co_await yield();  // the waiter is registered
    testing::raise_shutdown_signal(shutdown_signal::terminate);
    co_await s.join();
    co_return got;
  }());
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, shutdown_signal::terminate);
}

TEST_F(signal_test, ASignalWithNobodyWaitingIsKeptForTheNextWait) {
  auto got = run([]() -> task<result<shutdown_signal>> {
    testing::raise_shutdown_signal(shutdown_signal::interrupt);
    co_return co_await ctrl_c();
  }());
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, shutdown_signal::interrupt);
}

TEST_F(signal_test, WaitIsCancelledByItsToken) {
  auto got = run([]() -> task<result<shutdown_signal>> {
    std::stop_source stop;
    scope s;
    result<shutdown_signal> got = shutdown_signal::interrupt;
    s.spawn_local([](std::stop_token tok, result<shutdown_signal>& got) -> task<void> {
      got = co_await ctrl_c(tok);
    }(stop.get_token(), got));
    co_await yield();
    stop.request_stop();
    co_await s.join();
    co_return got;
  }());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), std::errc::operation_canceled);
}

#ifndef _WIN32
TEST_F(signal_test, RealSigintReachesTheWaiterAndDoesNotKillTheProcess) {
  auto got = run([]() -> task<result<shutdown_signal>> {
    scope s;
    result<shutdown_signal> got = fail(errc::not_open);
    s.spawn_local([](result<shutdown_signal>& got) -> task<void> {
      got = co_await ctrl_c();
    }(got));
    co_await yield();
    std::raise(SIGINT);
    co_await s.join();
    co_return got;
  }());
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, shutdown_signal::interrupt);
}
#endif

}  // namespace
}  // namespace corio::test
