// corio/metrics.hpp: what a running runtime has done, per worker, read
// without stopping it (runtime::metrics()), and the Prometheus text format
// of it. See docs/observability.md.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "corio/detail/operation.hpp"

namespace corio {

/// How many kinds of operation the runtime counts (recv, send, ...).
inline constexpr std::size_t operation_kind_count = detail::op_code_count;

/// The name of operation kind `k` ("recv", "send", "send_vectored",
/// "wait_readable", "accept", "connect", "timer"); "unknown" past the end.
std::string_view operation_kind_name(std::size_t k) noexcept;

/// One worker's plain counters and gauges, one std::uint64_t each. The
/// worker keeps them live in this very shape (lib/core/counters.hpp), and
/// runtime::metrics() copies them into worker_metrics: the one list of them.
struct worker_counts {
  /// Of the operations started, the ones that finished at once, without
  /// waiting (data was already there, or the start failed).
  std::uint64_t inline_completions = 0;
  /// Operations completed later, through the worker's loop.
  std::uint64_t completions = 0;
  /// Calls into the kernel to submit or wait (io_uring_enter, epoll_wait,
  /// GetQueuedCompletionStatusEx).
  std::uint64_t kernel_entries = 0;
  /// Polls that found nothing to complete or resume.
  std::uint64_t empty_polls = 0;
  /// Coroutines resumed here that another thread handed over (spawn from
  /// outside, wake-ups of channels and events; on IOCP any post).
  std::uint64_t posts_received = 0;
  /// Bytes received and sent by completed reads and writes.
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  /// Turns of the worker's loop, and returns from a blocking wait.
  std::uint64_t turns = 0;
  std::uint64_t wakeups = 0;
  /// A gauge: coroutines that were ready to run at the start of the last
  /// turn.
  std::uint64_t ready_queue = 0;
};

/// One worker's counters (worker_counts, and the ones below). Counters only
/// grow; the gauges (ready_queue, in_flight, waiting) are a recent value.
/// Each is read on its own, so two counters may be a few operations apart
/// in a snapshot taken under load; once the runtime is quiet they agree
/// exactly.
struct worker_metrics : worker_counts {
  /// The worker's index (0 .. threads-1); the totals use threads().
  unsigned worker = 0;
  /// Operations started (every read, write, accept, connect, wait, timer):
  /// the sum of `started`.
  std::uint64_t submissions = 0;
  /// Operations started, per kind (index: operation_kind_name).
  std::array<std::uint64_t, operation_kind_count> started{};
  /// Operations in flight, per kind: started here minus finished here. On
  /// IOCP, where a completion may come on another worker, one worker's
  /// value can be negative; the totals are exact. Timers in flight are the
  /// timers pending.
  std::array<std::int64_t, operation_kind_count> in_flight{};
  /// The CPU time of the worker's thread (running coroutines and
  /// completions, and the system calls they make), and the rest of its
  /// life so far (waiting for work, or for a CPU). Read from the thread's
  /// CPU clock by metrics(): the worker reads no clock for it.
  std::chrono::nanoseconds busy_time{0};
  std::chrono::nanoseconds waiting_time{0};
  /// Whether the worker was blocked waiting for work when read.
  bool waiting = false;
};

/// runtime::metrics(): every worker's counters and their sums.
struct metrics_snapshot {
  /// "uring", "epoll" or "iocp".
  std::string_view backend;
  std::vector<worker_metrics> workers;
  /// The sums over `workers` (gauges summed too; `waiting` is true when
  /// every worker was waiting).
  worker_metrics total;
  /// Sockets open in the process (listeners and connections, every runtime).
  std::int64_t sockets_open = 0;
  /// Threads in the runtime's blocking pool.
  unsigned blocking_threads = 0;
};

/// Writes `m` in the Prometheus text exposition format (version 0.0.4):
/// HELP and TYPE lines, one sample per worker labelled worker="N" (and
/// kind="recv" ... for operations in flight), counters named *_total.
/// `prefix` starts every metric name.
std::string format_prometheus(const metrics_snapshot& m, std::string_view prefix = "corio_");

}  // namespace corio
