// corio/dump.hpp: a live listing of what a running runtime waits on
// (runtime::dump()): the operations in flight and the suspended tasks. See
// docs/observability.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace corio {

/// One operation in flight.
struct operation_info {
  /// The worker that started it.
  unsigned worker = 0;
  /// "recv", "send", "accept", "timer" ... (operation_kind_name).
  std::string_view kind;
  /// The socket's handle (fd, SOCKET); -1 for a timer.
  std::int64_t socket = -1;
  /// "peer 127.0.0.1:5000", or "local 0.0.0.0:80" for a listener; empty
  /// for a timer, or when the socket has no address (yet).
  std::string address;
  /// How long it has been in flight.
  std::chrono::nanoseconds waiting{0};
};

/// One corio::task frame that exists (built with CORIO_TASK_TRACKING).
struct task_info {
  /// The co_await it is suspended at, or last passed while running (its
  /// file, line and function; empty before its first co_await).
  std::string file;
  std::uint32_t line = 0;
  std::string function;
  /// Suspended at that co_await (false: running, or created and not started).
  bool suspended = false;
  /// How long since it got there.
  std::chrono::nanoseconds since{0};
};

/// One worker as the dump found it.
struct worker_state {
  unsigned worker = 0;
  /// Blocked waiting for work.
  bool waiting = false;
  /// Coroutines ready to run at the start of its last turn.
  std::uint64_t ready_queue = 0;
  /// Where the coroutine it runs last passed a co_await (CORIO_TASK_TRACKING
  /// builds; empty otherwise).
  std::string location;
};

/// runtime::dump().
struct runtime_dump {
  /// Whether operations are listed (runtime_options::track_operations).
  bool operations_tracked = false;
  /// Whether tasks are listed (the library was built with CORIO_TASK_TRACKING).
  bool tasks_tracked = false;
  std::vector<worker_state> workers;
  /// Longest waiting first.
  std::vector<operation_info> operations;
  /// Longest suspended first; tasks of every runtime in the process.
  std::vector<task_info> tasks;
};

/// The dump as text for an operator: one line per worker, operation and task.
std::string format_dump(const runtime_dump& d);

}  // namespace corio
