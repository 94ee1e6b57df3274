// lib/sys/posix/thread_clock.cpp: a thread's CPU clock through pthread_getcpuclockid.
#include <pthread.h>
#include <time.h>

#include "sys/thread_clock.hpp"

namespace corio::detail::sys {

// clockid_t values are small negative numbers on Linux: kept as their bits,
// with 0 (CLOCK_REALTIME, never a thread's clock) meaning none.
std::uintptr_t current_thread_clock() noexcept {
  clockid_t id;
  if (::pthread_getcpuclockid(::pthread_self(), &id) != 0) return 0;
  return static_cast<std::uintptr_t>(static_cast<std::intptr_t>(id));
}

std::chrono::nanoseconds thread_cpu_time(std::uintptr_t clock) noexcept {
  if (clock == 0) return std::chrono::nanoseconds(0);
  timespec ts{};
  // The worker forgets its clock as its thread ends; a reader that took it
  // just before gets EINVAL (0) here, never undefined behaviour.
  if (::clock_gettime(static_cast<clockid_t>(static_cast<std::intptr_t>(clock)), &ts) != 0)
    return std::chrono::nanoseconds(0);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void release_thread_clock(std::uintptr_t) noexcept {}

}  // namespace corio::detail::sys
