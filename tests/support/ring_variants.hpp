// tests/support/ring_variants.hpp: running a test on each buffer-ring set-up
// of the io_uring workers (CORIO_TEST_URING_BUFFER_RING): the ring made by
// default (with a multishot recv per socket), the same ring read one recv
// per read (CORIO_TEST_URING_NO_MULTISHOT: a kernel before 6.0), a ring of
// 4 buffers (a few connections exhaust it and reads fall
// back to the pool), and no ring (a kernel without provided-buffer rings).
// epoll and IOCP always read through their pool: they run the first variant
// and skip the others.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <ostream>
#include <string>

#include "support/run.hpp"

namespace corio::test {

struct ring_variant {
  const char* name;
  const char* entries;     // nullptr: the default ring
  bool single_shot = false;  // one recv per read, no multishot recv (a 5.19 kernel)
};
inline constexpr ring_variant ring_variants[] = {{"DefaultRing", nullptr},
                                                 {"SingleShot", nullptr, true},
                                                 {"FourBuffers", "4"},
                                                 {"NoRing", "0"}};
// The name, not the bytes, in test names and failure messages.
inline void PrintTo(const ring_variant& v, std::ostream* os) { *os << v.name; }
// For INSTANTIATE_TEST_SUITE_P's name generator.
inline std::string ring_variant_name(const ::testing::TestParamInfo<ring_variant>& info) {
  return info.param.name;
}

/// A fixture whose runtime rt_ has the variant's buffer ring.
class ring_variant_test : public ::testing::TestWithParam<ring_variant> {
 protected:
  void SetUp() override {
    rt_ = make_variant_runtime();
    if (rt_->backend() != backend_kind::io_uring && std::string_view(GetParam().name) != ring_variants[0].name)
      GTEST_SKIP() << "only io_uring has a buffer ring; this backend reads through its pool, "
                      "which the DefaultRing variant tests";
  }
  void TearDown() override {
    if (rt_) {
      EXPECT_EQ(rt_->operations_in_flight(), 0) << "operations still in flight";
    }
  }
  // A runtime of this variant (the hook is read when the runtime is made).
  std::optional<runtime> make_variant_runtime() {
#ifndef _WIN32
    const char* name = "CORIO_TEST_URING_BUFFER_RING";
    const char* single = "CORIO_TEST_URING_NO_MULTISHOT";
    if (GetParam().entries) {
      ::setenv(name, GetParam().entries, 1);
    } else {
      ::unsetenv(name);
    }
    if (GetParam().single_shot) ::setenv(single, "1", 1);
    auto rt = make_runtime();
    ::unsetenv(name);
    ::unsetenv(single);
    return rt;
#else
    return make_runtime();
#endif
  }
  template <class T>
  T run(task<T> t) {
    return test::run(*rt_, std::move(t));
  }
  std::optional<runtime> rt_;
};

}  // namespace corio::test
