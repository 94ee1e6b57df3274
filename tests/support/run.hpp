// tests/support/run.hpp: running test coroutines on a runtime with a hard
// deadline, and a fixture that checks the runtime is clean afterwards.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "corio/corio.hpp"

namespace corio::test {

/// Aborts the process (failing this test, which runs in its own process)
/// if it is still alive after `limit`: a hang fails instead of blocking CI.
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit) : thread_([this, limit] {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
      std::fprintf(stderr, "watchdog: test still running after %llds: hang\n",
                   static_cast<long long>(limit.count()));
      std::abort();
    }
  }) {}
  ~watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

/// Runs `t` on `rt` and returns its value; aborts after `limit`.
template <class T>
T run(runtime& rt, task<T> t, std::chrono::seconds limit = std::chrono::seconds(30)) {
  watchdog dog(limit);
  return rt.block_on(std::move(t));
}

/// The backend the suite runs on: CORIO_BACKEND, as the test command sets it.
inline runtime make_runtime(unsigned threads = 2) {
  auto rt = runtime::create({.threads = threads});
  if (!rt) {
    std::fprintf(stderr, "runtime::create failed: %s\n", rt.error().message().c_str());
    std::abort();
  }
  return std::move(*rt);
}

/// Counts live instances, to prove frames are freed (and freed once).
struct counted {
  static inline std::atomic<int> live{0};
  static inline std::atomic<int> destroyed{0};
  counted() noexcept { live.fetch_add(1); }
  counted(const counted&) noexcept { live.fetch_add(1); }
  ~counted() {
    live.fetch_sub(1);
    destroyed.fetch_add(1);
  }
  static void reset() noexcept {
    live = 0;
    destroyed = 0;
  }
};

/// A runtime per test; tear-down asserts nothing is in flight and no
/// counted object leaked.
class runtime_test : public ::testing::Test {
 protected:
  void SetUp() override { counted::reset(); }
  void TearDown() override {
    EXPECT_EQ(rt.operations_in_flight(), 0) << "operations still in flight at the end of the test";
    EXPECT_EQ(counted::live.load(), 0) << "counted objects leaked";
  }
  template <class T>
  T run(task<T> t, std::chrono::seconds limit = std::chrono::seconds(30)) {
    return test::run(rt, std::move(t), limit);
  }
  runtime rt = make_runtime();
};

}  // namespace corio::test

/// ASSERT_TRUE for coroutine bodies (gtest's ASSERT_* use `return`, which a
/// coroutine cannot): records the failure and leaves the task<void>.
#define CO_ASSERT(cond)                                 \
  if (!(cond)) {                                        \
    ADD_FAILURE() << "CO_ASSERT failed: " #cond;        \
    co_return;                                          \
  } else                                                \
    (void)0
