// tests/core/with_scope_test.cpp: with_scope joins its children on every
// exit (return, exception, cancellation) and then propagates.
#include <gtest/gtest.h>

#include <stdexcept>

#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class with_scope_test : public runtime_test {};

// A child that runs until its scope is stopped.
task<void> wait_for_stop(std::stop_token tok, std::atomic<int>& stopped, counted c) {
  (void)c;
  auto r = co_await with_stop(sleep_for(1h), tok);
  if (!r && r.error() == std::errc::operation_canceled) stopped.fetch_add(1);
}

TEST_F(with_scope_test, BodyThatThrowsStopsAndJoinsItsChildrenThenPropagates) {
  std::atomic<int> stopped{0};
  EXPECT_THROW(run([](std::atomic<int>& stopped) -> task<void> {
                 co_await with_scope([&](scope& s) -> task<void> {
                   for (int i = 0; i < 4; ++i) s.spawn(wait_for_stop(s.token(), stopped, counted{}));
                   co_await yield();
                   throw std::runtime_error("body failed");
                 });
               }(stopped)),
               std::runtime_error);
  EXPECT_EQ(stopped.load(), 4);
  EXPECT_EQ(counted::live.load(), 0);  // every child frame is freed
}

TEST_F(with_scope_test, AChildThatThrowsStopsItsSiblingsAndTheErrorReachesTheAwaiter) {
  std::atomic<int> stopped{0};
  EXPECT_THROW(run([](std::atomic<int>& stopped) -> task<void> {
                 co_await with_scope([&](scope& s) -> task<void> {
                   for (int i = 0; i < 3; ++i) s.spawn_local(wait_for_stop(s.token(), stopped, counted{}));
                   s.spawn_local([]() -> task<void> {
                     co_await yield();
                     throw std::runtime_error("child failed");
                   }());
                   co_return;
                 });
               }(stopped)),
               std::runtime_error);
  EXPECT_EQ(stopped.load(), 3);
  EXPECT_EQ(counted::live.load(), 0);
}

TEST_F(with_scope_test, BodyThatReturnsWaitsForItsChildrenAndGivesItsValue) {
  std::atomic<int> done{0};
  auto v = run([](std::atomic<int>& done) -> task<int> {
    co_return co_await with_scope([&](scope& s) -> task<int> {
      for (int i = 0; i < 8; ++i) {
        s.spawn([](std::atomic<int>& done) -> task<void> {
          for (int k = 0; k < 5; ++k) co_await yield();
          done.fetch_add(1);
        }(done));
      }
      co_return 11;
    });
  }(done));
  EXPECT_EQ(v, 11);
  EXPECT_EQ(done.load(), 8);
}

// Cancellation: a stop of the scope from outside (here a token tied to it)
// ends the body's and the children's waits; with_scope returns after the
// join.
TEST_F(with_scope_test, AStopFromOutsideEndsBodyAndChildren) {
  std::atomic<int> stopped{0};
  run([](std::atomic<int>& stopped) -> task<void> {
    std::stop_source outside;
    scope s;
    std::stop_callback tie(outside.get_token(), [&s] { s.request_stop(); });
    co_await with_scope(s, [&](scope& sc) -> task<void> {
      for (int i = 0; i < 2; ++i) sc.spawn_local(wait_for_stop(sc.token(), stopped, counted{}));
      sc.spawn_local([](std::stop_source& o) -> task<void> {
        co_await yield();
        o.request_stop();
      }(outside));
      auto r = co_await with_stop(sleep_for(1h), sc.token());
      EXPECT_EQ(r.error(), std::errc::operation_canceled);
    });
    EXPECT_EQ(s.size(), 0u);
  }(stopped));
  EXPECT_EQ(stopped.load(), 2);
}

}  // namespace
}  // namespace corio::test
