// lib/sys/win/signal.cpp: console control events turned into
// deliver_signal. Windows runs the handler on a thread of its own, which
// may take locks, so no relay thread is needed.
#include <windows.h>

#include "corio/signal.hpp"
#include "sys/signal.hpp"

namespace corio::detail::sys {

namespace {
BOOL WINAPI on_console_event(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT: deliver_signal(shutdown_signal::interrupt); return TRUE;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT: deliver_signal(shutdown_signal::terminate); return TRUE;
    default: return FALSE;
  }
}
}  // namespace

std::error_code install_signal_handlers() noexcept {
  if (!::SetConsoleCtrlHandler(on_console_event, TRUE))
    return {static_cast<int>(::GetLastError()), std::system_category()};
  return {};
}

void prepare_worker_thread() noexcept {}

}  // namespace corio::detail::sys
