// lib/sys/signal.hpp: the OS side of ctrl_c().
#pragma once

#include <system_error>

namespace corio::detail::sys {

/// Installs the process's shutdown-signal handlers (SIGINT and SIGTERM; the
/// console control handler on Windows), which call deliver_signal from a
/// thread that may take locks. Called under the registry's lock until it
/// succeeds; a failure (the error returned) installs nothing.
std::error_code install_signal_handlers() noexcept;

/// Called first on each worker thread. POSIX: blocks SIGPIPE on the thread,
/// so that a write that no flag can keep from raising it (sendfile to a
/// socket whose peer has gone) returns EPIPE instead of killing the
/// process; the process's own disposition is left as it is. Windows: nothing.
void prepare_worker_thread() noexcept;

}  // namespace corio::detail::sys
