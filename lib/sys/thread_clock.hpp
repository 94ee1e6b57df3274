// lib/sys/thread_clock.hpp: the CPU time of a worker's thread, read from
// another thread, so that metrics split a worker's life into running and
// waiting without the worker reading any clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace corio::detail::sys {

/// Names the calling thread's CPU clock (a clockid_t on POSIX, a thread
/// handle on Windows); 0 when the OS gives none.
std::uintptr_t current_thread_clock() noexcept;
/// Any thread: the CPU time (user and system) the thread of `clock` has used
/// so far; 0 for clock 0.
std::chrono::nanoseconds thread_cpu_time(std::uintptr_t clock) noexcept;
/// Releases what current_thread_clock took (Windows: the handle).
void release_thread_clock(std::uintptr_t clock) noexcept;

}  // namespace corio::detail::sys
