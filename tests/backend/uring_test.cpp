// tests/backend/uring_test.cpp: what only the io_uring backend has to get
// right: workers post to each other with IORING_OP_MSG_RING, a message the
// kernel fails goes through the posted queue instead, a kernel without
// MSG_RING (simulated by the probe's test hook) uses the eventfd path, a
// worker blocked in io_uring_enter wakes for a message, and hops in flight
// while the runtime shuts down all arrive. Linux only; skipped unless the
// suite runs on io_uring (CORIO_BACKEND=uring).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "corio/testing.hpp"
#include "support/run.hpp"
#include "support/workers.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;
using testing::fault_rule;
using testing::fault_site;

#define SKIP_UNLESS_URING(rt)                                                   \
  if ((rt).backend() != backend_kind::io_uring)                                \
  GTEST_SKIP() << "io_uring-specific; this run uses " << to_string((rt).backend()) \
               << " (set CORIO_BACKEND=uring)"

// Sets an environment variable for one test and removes it after.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~scoped_env() { ::unsetenv(name_); }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
};

// Installs `rule` alone; the fixture-less tests clear it themselves.
void inject(fault_rule rule) { ASSERT_TRUE(testing::set_faults(std::span(&rule, 1))); }

// Every message the kernel is given fails: counting the injections counts
// the posts that went as messages.
constexpr fault_rule every_message{.site = fault_site::uring_msg_ring, .nth = 1, .count = ~0ull};

// `n` round trips to the other worker and back; checks each lands where it
// was sent.
task<void> ping_pong(int n) {
  void* home = detail::current_backend();
  void* away = co_await other_worker();
  CO_ASSERT(away != home);
  for (int i = 0; i < n; ++i) {
    co_await hop{away};
    EXPECT_EQ(detail::current_backend(), away);
    co_await hop{home};
    EXPECT_EQ(detail::current_backend(), home);
  }
}

TEST(uring_backend, PostsBetweenWorkersGoAsMessagesAndAFailedOneIsPostedInstead) {
  auto rt = make_runtime(2);
  SKIP_UNLESS_URING(rt);
  constexpr int trips = 500;
  // Every message fails in the kernel (EBADF): each hop still lands, through
  // the target's posted queue, and each was first sent as a message.
  const auto at_start = testing::faults_injected(fault_site::uring_msg_ring);
  inject(every_message);
  run(rt, ping_pong(trips));
  testing::clear_faults();
  EXPECT_EQ(testing::faults_injected(fault_site::uring_msg_ring) - at_start, 2u * trips);
  // Half of them fail, at random: the two paths interleave.
  const auto before = testing::faults_injected(fault_site::uring_msg_ring);
  inject({.site = fault_site::uring_msg_ring, .nth = 0, .rate = 0.5, .seed = 7});
  run(rt, ping_pong(trips));
  testing::clear_faults();
  EXPECT_GT(testing::faults_injected(fault_site::uring_msg_ring), before);
  // And none: every hop is a message that arrives.
  run(rt, ping_pong(trips));
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

TEST(uring_backend, WithoutMsgRingWorkersPostThroughTheEventfd) {
  // The probe answers as a kernel older than 5.18 would.
  scoped_env no_msg_ring("CORIO_TEST_URING_NO_MSG_RING", "1");
  auto rt = make_runtime(2);
  SKIP_UNLESS_URING(rt);
  const auto before = testing::faults_injected(fault_site::uring_msg_ring);
  inject(every_message);
  run(rt, ping_pong(500));
  testing::clear_faults();
  // No post went as a message (the site is on that path only), and all arrived.
  EXPECT_EQ(testing::faults_injected(fault_site::uring_msg_ring), before);
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

// With DEFER_TASKRUN the kernel queues the message as work for the target
// ring, which only its own thread runs: the target blocked in
// io_uring_enter must be woken by it. Each hop waits until the other worker
// is blocked first; a message that did not wake it hangs (the watchdog).
TEST(uring_backend, AMessageWakesAWorkerBlockedInTheKernel) {
  auto rt = make_runtime(2);
  SKIP_UNLESS_URING(rt);
  run(rt, [](runtime& rt) -> task<void> {
    void* home = detail::current_backend();
    void* away = co_await other_worker();
    CO_ASSERT(away != home);
    for (int i = 0; i < 20; ++i) {
      // This worker runs, so a worker that is waiting is the other one.
      for (;;) {
        auto m = rt.metrics();
        if (m.workers[0].waiting || m.workers[1].waiting) break;
        co_await yield();
      }
      co_await hop{away};
      co_await hop{home};
    }
  }(rt));
}

// A task hopping between the two workers until the runtime stops it: the
// shutdown that stops it must find every hop delivered (a message lost on
// the way would leave the task suspended: abandoned, not stopped). Also
// with every other message failing, so the fallback runs during shutdown.
void hop_until_shutdown(std::optional<fault_rule> rule) {
  auto rt = make_runtime(2);
  SKIP_UNLESS_URING(rt);
  std::atomic<int> hops{0};
  std::atomic<bool> ended{false};
  auto hopping = [](std::atomic<int>& hops, std::atomic<bool>& ended,
                    std::stop_token token) -> task<void> {
    void* home = detail::current_backend();
    void* away = co_await other_worker();
    CO_ASSERT(away != home);
    while (!token.stop_requested()) {
      co_await hop{away};
      co_await hop{home};
      hops.fetch_add(1);
    }
    ended = true;
  };
  if (rule) inject(*rule);
  auto joined = rt.spawn([&](std::stop_token token) { return hopping(hops, ended, token); });
  watchdog dog(30s);
  while (hops.load() < 200) std::this_thread::yield();
  // No grace: the stop comes while messages are on their way, and the
  // workers stop as soon as the task has ended.
  auto report = rt.shutdown(0ms);
  testing::clear_faults();
  EXPECT_TRUE(ended.load());
  EXPECT_EQ(report.abandoned, 0u);
  EXPECT_EQ(report.stopped, 1u);
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

TEST(uring_backend, MessagesInFlightWhenTheRuntimeShutsDownAllArrive) {
  hop_until_shutdown(std::nullopt);
}

TEST(uring_backend, FailedMessagesInFlightWhenTheRuntimeShutsDownAllArrive) {
  hop_until_shutdown(fault_rule{.site = fault_site::uring_msg_ring, .nth = 0, .rate = 0.5, .seed = 3});
}

}  // namespace
}  // namespace corio::test
