// lib/core/log.cpp: the process-wide log handler.
#include "core/log.hpp"

#include <atomic>
#include <string>
#include <system_error>

namespace corio {

namespace {
std::atomic<log_handler> installed{nullptr};
}  // namespace

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
  }
  return "?";
}

log_handler set_log_handler(log_handler handler) noexcept {
  return installed.exchange(handler, std::memory_order_acq_rel);
}

void detail::log(log_level level, std::string_view message) noexcept {
  if (auto h = installed.load(std::memory_order_acquire)) h(level, message);
}

void detail::log_error(std::string_view what, int os_error) noexcept {
  auto h = installed.load(std::memory_order_acquire);
  if (!h) return;
  try {
    std::string line(what);
    line += " failed: ";
    line += std::system_category().message(os_error);
    line += " (";
    line += std::to_string(os_error);
    line += ')';
    h(log_level::error, line);
  } catch (...) {
    // Out of memory while reporting: the report is what is lost.
  }
}

}  // namespace corio
