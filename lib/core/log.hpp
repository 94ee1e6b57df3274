// lib/core/log.hpp: how the library reports through the application's log
// handler (corio/log.hpp).
#pragma once

#include <string_view>

#include "corio/log.hpp"

namespace corio::detail {

/// Hands `message` to the installed handler, if any.
void log(log_level level, std::string_view message) noexcept;

/// Reports that `what` failed with the OS error `os_error` (an errno value
/// on Linux, a Win32 code on Windows), at error level.
void log_error(std::string_view what, int os_error) noexcept;

}  // namespace corio::detail
