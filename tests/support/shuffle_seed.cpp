// tests/support/shuffle_seed.cpp: with schedule shaking on (CORIO_SHUFFLE=1
// or CORIO_SHUFFLE_SEED=N, see docs/fault-injection.md), prints the seed at
// the start and, with each failed test, how to replay it.
#include <gtest/gtest.h>

#include <cstdio>

#include "corio/testing.hpp"

namespace {

class shuffle_seed_printer : public ::testing::EmptyTestEventListener {
  void OnTestProgramStart(const ::testing::UnitTest&) override {
    if (auto seed = corio::testing::schedule_shuffle_seed())
      std::fprintf(stderr, "schedule shuffling on: CORIO_SHUFFLE_SEED=%llu\n",
                   static_cast<unsigned long long>(seed));
  }
  void OnTestEnd(const ::testing::TestInfo& test) override {
    auto seed = corio::testing::schedule_shuffle_seed();
    if (seed && test.result()->Failed())
      std::fprintf(stderr, "replay the schedule: CORIO_SHUFFLE_SEED=%llu --gtest_filter=%s.%s\n",
                   static_cast<unsigned long long>(seed), test.test_suite_name(), test.name());
  }
};

[[maybe_unused]] const bool registered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new shuffle_seed_printer);
  return true;
}();

}  // namespace
