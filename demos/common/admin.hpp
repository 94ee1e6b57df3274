// demos/common/admin.hpp: a server demo's window into its runtime, for the
// operator (docs/observability.md):
// - SIGUSR1 prints the runtime's dump and a metrics summary to stderr (on
//   Windows, setting the named event "Local\corio-dump-PID" does, e.g.
//   from PowerShell:
//   [Threading.EventWaitHandle]::OpenExisting("Local\corio-dump-1234").Set());
// - with --admin-port, a tiny HTTP listener serves /metrics (Prometheus
//   text) and /debug/tasks (the dump).
//
// Wiring it into a demo (echo_server and chat_server show it in place):
//   demo::admin_options admin;                 // next to the other options
//   demo::add_admin_options(cli, admin);       // before cli.parse()
//   admin.apply(runtime_options);              // after it, before the runtime starts
//   auto a = demo::start_admin("name", rt, admin);  // once the runtime runs
//   if (!a) return 1;
// `admin` stops both when it goes out of scope (before the runtime does).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/args.hpp"
#include "corio/runtime.hpp"

namespace demo {

struct admin_options {
  /// --admin-port: where /metrics and /debug/tasks are served (0 picks a
  /// free port, printed at start); none: no HTTP listener.
  std::optional<std::uint16_t> port;
  /// --admin-host: the address it listens on (loopback by default: the
  /// dump shows peers' addresses).
  std::string host = "127.0.0.1";
  /// --track: list every operation in flight in the dump (implied by
  /// --admin-port); costs a lock per operation.
  bool track = false;
  /// --stall-ms: the stall detector's threshold (0: off), reported on stderr
  /// through the demo's log handler.
  std::uint32_t stall_ms = 0;

  /// Sets runtime_options::track_operations and stall_threshold as asked.
  void apply(corio::runtime_options& rt) const {
    rt.track_operations = track || port.has_value();
    rt.stall_threshold = std::chrono::milliseconds(stall_ms);
  }
};

/// Declares --admin-port, --admin-host, --track and --stall-ms on `cli`.
void add_admin_options(args& cli, admin_options& out);

/// The dump trigger and the admin listener of one runtime; stops both when
/// destroyed.
class admin_endpoint;
struct admin_deleter {
  void operator()(admin_endpoint* a) const noexcept;
};
using admin_handle = std::unique_ptr<admin_endpoint, admin_deleter>;

/// Starts them for `rt` (which must outlive the handle). Prints
/// "<name> admin on http://ADDR:PORT (/metrics, /debug/tasks)" when there is
/// a listener; on failure (the port cannot be bound) says why on stderr and
/// returns nothing.
admin_handle start_admin(std::string_view name, corio::runtime& rt, const admin_options& options);

/// What the dump trigger prints: the runtime's dump and the metrics totals.
std::string dump_text(corio::runtime& rt);

}  // namespace demo
