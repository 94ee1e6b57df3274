// corio/log.hpp: where the library's diagnostics go. corio never writes to
// stderr (or anywhere) by itself: an application that wants to see what the
// runtime reports installs a handler.
#pragma once

#include <cstdint>
#include <string_view>

namespace corio {

enum class log_level : std::uint8_t {
  info,     // a choice the runtime made (e.g. epoll because io_uring was refused)
  warning,  // something degraded that the runtime works around
  error,    // something failed that the application should know about
};

std::string_view to_string(log_level level) noexcept;

/// Receives one diagnostic line (no trailing newline). May be called from any
/// thread, a runtime worker included, so it must be quick and must not
/// block on the runtime; it must not throw.
using log_handler = void (*)(log_level level, std::string_view message) noexcept;

/// Installs `handler` for every runtime in the process (nullptr, the
/// default: diagnostics are dropped) and returns the previous one. Any
/// thread; a line being delivered while it changes goes to either handler.
log_handler set_log_handler(log_handler handler) noexcept;

}  // namespace corio
