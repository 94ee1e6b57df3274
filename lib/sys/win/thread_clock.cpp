// lib/sys/win/thread_clock.cpp: a thread's CPU time through GetThreadTimes.
#include <windows.h>

#include "sys/thread_clock.hpp"

namespace corio::detail::sys {

std::uintptr_t current_thread_clock() noexcept {
  // GetCurrentThread() is a pseudo-handle meaning "the caller": other
  // threads need a real one.
  HANDLE self = nullptr;
  if (!::DuplicateHandle(::GetCurrentProcess(), ::GetCurrentThread(), ::GetCurrentProcess(), &self,
                         THREAD_QUERY_LIMITED_INFORMATION, FALSE, 0))
    return 0;
  return reinterpret_cast<std::uintptr_t>(self);
}

std::chrono::nanoseconds thread_cpu_time(std::uintptr_t clock) noexcept {
  if (clock == 0) return std::chrono::nanoseconds(0);
  FILETIME created, exited, kernel, user;
  if (!::GetThreadTimes(reinterpret_cast<HANDLE>(clock), &created, &exited, &kernel, &user))
    return std::chrono::nanoseconds(0);
  auto ticks = [](const FILETIME& f) {
    return (static_cast<std::uint64_t>(f.dwHighDateTime) << 32) | f.dwLowDateTime;
  };
  // FILETIME counts 100 ns units.
  return std::chrono::nanoseconds(static_cast<std::int64_t>((ticks(kernel) + ticks(user)) * 100));
}

void release_thread_clock(std::uintptr_t clock) noexcept {
  if (clock != 0) ::CloseHandle(reinterpret_cast<HANDLE>(clock));
}

}  // namespace corio::detail::sys
