// corio/testing.hpp: hooks for tests of code built on corio: targeted fault
// injection below the event loop (docs/fault-injection.md) and a way to
// deliver a shutdown signal.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "corio/result.hpp"
#include "corio/signal.hpp"

namespace corio::testing {

/// A place below the loop where a failure can be injected. Each one fails
/// the way the OS call it stands for fails (docs/fault-injection.md has the
/// error each one injects and what corio must do about it).
enum class fault_site : std::uint8_t {
  op_start,             ///< any backend: an operation refused before it reaches the backend (EAGAIN)
  uring_get_sqe,        ///< io_uring: no submission entry for an operation, even after a flush
  uring_submit,         ///< io_uring: io_uring_enter (submit and wait) fails with EAGAIN
  cq_overflow,          ///< io_uring: io_uring_enter fails with EBUSY (completion queue overflowing)
  uring_cancel_submit,  ///< io_uring: no submission entry for a cancel request
  uring_wake_rearm,     ///< io_uring: no submission entry to re-arm the wake-up read
  epoll_ctl_add,        ///< epoll: epoll_ctl(EPOLL_CTL_ADD) fails with ENOSPC
  epoll_wait,           ///< epoll: epoll_wait fails with EINTR
  posted_wake,          ///< io_uring, epoll: the eventfd write that wakes a worker fails
  timer_alloc,          ///< every backend: the timer heap cannot grow (ENOMEM)
  stop_registry_alloc,  ///< io_uring, epoll: with_stop's per-worker registry cannot grow
  signal_pipe,          ///< POSIX: pipe2 fails (EMFILE) while ctrl_c() installs its handlers
  iocp_post,            ///< IOCP: PostQueuedCompletionStatus refused (no memory for a packet)
  iocp_dequeue,         ///< IOCP: GetQueuedCompletionStatusEx fails (nothing dequeued)
  uring_msg_ring,       ///< io_uring: the kernel fails a message to another worker's ring (EBADF)
  count_,               ///< not a site: how many there are
};

/// The site's name as CORIO_FAULTS spells it ("uring_get_sqe", ...).
std::string_view to_string(fault_site s) noexcept;

/// Which occurrences of a site fail. Occurrences are counted per rule from
/// the moment the rule is installed, on the workers it names only.
struct fault_rule {
  fault_site site = fault_site::op_start;
  /// Every site when true (`site` is then ignored), except signal_pipe,
  /// which a rule must name.
  bool any_site = false;
  /// Fail the nth occurrence (1 = the next one) and the `count - 1` after
  /// it; 0 with `rate` > 0: fail at random instead.
  std::uint64_t nth = 1;
  std::uint64_t count = 1;
  /// Only occurrences on this worker (runtime worker index); -1: any thread.
  int worker = -1;
  /// With nth = 0: the probability that an occurrence fails, decided by a
  /// hash of (seed, site, occurrence number), so a seed replays the same
  /// decisions for the same sequence of calls.
  double rate = 0;
  std::uint64_t seed = 0;
};

/// Replaces the installed rules with `rules` (at most 16; more is
/// invalid_argument). Any thread; takes effect at once on every worker.
result<void> set_faults(std::span<const fault_rule> rules) noexcept;
/// Parses `spec` in the CORIO_FAULTS syntax and installs it:
///   spec  := rule (';' rule)*
///   rule  := [site ':'] key '=' value (',' key '=' value)*
///   keys  := nth, count, worker, rate, seed
/// e.g. "uring_cancel_submit:nth=1;rate=0.01,seed=42" (a rule without a
/// site applies to every site but signal_pipe). An empty spec removes every
/// rule. invalid_argument, with nothing installed, on a malformed spec.
result<void> set_faults(std::string_view spec) noexcept;
/// Removes every rule: the sites cost one relaxed load again.
void clear_faults() noexcept;
/// Failures injected at `s` since the process started.
std::uint64_t faults_injected(fault_site s) noexcept;

/// Makes the next `n` operation submissions fail as if the backend could not
/// queue them (a full io_uring submission queue, a WSARecv that fails
/// without WSA_IO_PENDING, an epoll_ctl that fails). Each such operation
/// completes at once with std::errc::resource_unavailable_try_again; none
/// waits for a completion that will never come (lesson 2). The same as the
/// rule {op_start, nth = 1, count = n}; replaces any installed rules.
void fail_next_submissions(int n) noexcept;

/// Schedule shaking: with a seed other than 0, every batch of ready
/// coroutines and of completions on io_uring and epoll runs in an order
/// drawn from `seed` (a coroutine that yield()s still runs after those that
/// were ready before it); 0 turns it off. The environment sets it for a
/// whole process: CORIO_SHUFFLE_SEED=N, or CORIO_SHUFFLE=1 for a fresh seed.
void set_schedule_shuffle(std::uint64_t seed) noexcept;
/// The seed in use (read from the environment on the first call), or 0.
std::uint64_t schedule_shuffle_seed() noexcept;

/// Delivers `s` to ctrl_c() waiters exactly as the OS's signal would.
void raise_shutdown_signal(shutdown_signal s) noexcept;

}  // namespace corio::testing
