// lib/core/fault.cpp: the failed-submission test hook (lesson 2).
#include <atomic>

#include "backend/backend.hpp"
#include "corio/testing.hpp"

namespace corio {
namespace {
std::atomic<int> injected_failures{0};
}

void testing::fail_next_submissions(int n) noexcept {
  injected_failures.store(n, std::memory_order_relaxed);
}

bool detail::take_injected_failure() noexcept {
  // One relaxed load on the common path; the decrement only when armed.
  if (injected_failures.load(std::memory_order_relaxed) <= 0) return false;
  return injected_failures.fetch_sub(1, std::memory_order_relaxed) > 0;
}

}  // namespace corio
