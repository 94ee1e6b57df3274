// corio/testing.hpp: hooks for tests of code built on corio.
#pragma once

#include "corio/signal.hpp"

namespace corio::testing {

/// Makes the next `n` operation submissions fail as if the backend could not
/// queue them (a full io_uring submission queue, a WSARecv that fails
/// without WSA_IO_PENDING, an epoll_ctl that fails). Each such operation
/// completes at once with std::errc::resource_unavailable_try_again; none
/// waits for a completion that will never come (lesson 2).
void fail_next_submissions(int n) noexcept;

/// Delivers `s` to ctrl_c() waiters exactly as the OS's signal would.
void raise_shutdown_signal(shutdown_signal s) noexcept;

}  // namespace corio::testing
