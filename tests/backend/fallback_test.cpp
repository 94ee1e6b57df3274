// tests/backend/fallback_test.cpp: where io_uring cannot be set up, an
// automatic runtime falls back to epoll; a forced io_uring fails cleanly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/loopback.hpp"
#include "support/run.hpp"

#ifndef _WIN32

namespace corio::test {
namespace {

// Sets (or, with nullptr, removes) an environment variable for one test and
// restores what was there before.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// What the library reported through the log handler.
std::vector<std::pair<log_level, std::string>> logged;
void capture(log_level level, std::string_view line) noexcept {
  logged.emplace_back(level, std::string(line));
}

TEST(fallback, RefusedUringSetupFallsBackToEpoll) {
  // Automatic selection, not the test command's CORIO_BACKEND.
  scoped_env automatic("CORIO_BACKEND", nullptr);
  // What a container's seccomp profile answers io_uring_setup: EPERM.
  scoped_env refused("CORIO_TEST_URING_SETUP_ERROR", "1");
  logged.clear();
  const log_handler before = set_log_handler(capture);
  auto rt = runtime::create({});
  set_log_handler(before);
  ASSERT_TRUE(rt) << rt.error().message();
  EXPECT_EQ(rt->backend(), backend_kind::epoll);
  // The choice is reported once, through the handler (never to stderr).
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].first, log_level::info);
  EXPECT_NE(logged[0].second.find("using epoll"), std::string::npos) << logged[0].second;
  // And it is a working runtime.
  run(*rt, []() -> task<void> {
    auto [client, server] = co_await connected_pair();
    auto w = co_await client.write(std::string_view("ping"));
    EXPECT_TRUE(w);
    std::array<char, 4> buf;
    auto r = co_await server.read_exact(std::as_writable_bytes(std::span(buf)));
    EXPECT_TRUE(r);
    EXPECT_EQ(std::string_view(buf.data(), buf.size()), "ping");
  }());
  EXPECT_EQ(rt->operations_in_flight(), 0);
}

TEST(fallback, ForcedUringFailsWithTheSetupErrorInsteadOfFallingBack) {
  scoped_env automatic("CORIO_BACKEND", nullptr);
  scoped_env refused("CORIO_TEST_URING_SETUP_ERROR", "1");
  auto rt = runtime::create({.backend = backend_kind::io_uring});
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error(), std::errc::operation_not_permitted) << rt.error().message();
}

TEST(fallback, EnvironmentForcesUringToo) {
  scoped_env forced("CORIO_BACKEND", "uring");
  scoped_env refused("CORIO_TEST_URING_SETUP_ERROR", "1");
  auto rt = runtime::create({});
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error(), std::errc::operation_not_permitted) << rt.error().message();
}

}  // namespace
}  // namespace corio::test

#endif  // _WIN32
