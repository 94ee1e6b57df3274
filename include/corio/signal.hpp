// corio/signal.hpp: waiting for the operator's request to stop (Ctrl-C,
// SIGTERM), for graceful shutdown.
#pragma once

#include <coroutine>
#include <mutex>
#include <optional>
#include <stop_token>

#include "corio/result.hpp"

namespace corio {

/// Why the process is asked to stop.
enum class shutdown_signal {
  interrupt,  ///< SIGINT; Ctrl-C or Ctrl-Break on Windows
  terminate,  ///< SIGTERM; console close, logoff or shutdown on Windows
};

namespace detail {

// One coroutine waiting in ctrl_c(); linked into the process-wide list.
struct signal_waiter {
  std::coroutine_handle<> waiter;
  void* owner = nullptr;  // the backend to resume it on
  signal_waiter* next = nullptr;
  signal_waiter* prev = nullptr;
  std::optional<shutdown_signal> got;
  // Why the wait could not begin (the handlers could not be installed).
  std::error_code error;
  bool linked = false;
};

// Registers `w`, unless a signal is already pending (then fills w.got and
// returns false: no suspension). The first call installs the handlers; if
// that fails, w.error says why and it returns false (the next wait tries
// again).
bool signal_wait_begin(signal_waiter& w) noexcept;
// Unlinks `w` if still waiting and resumes it (cancelled) on its worker.
void signal_wait_cancel(signal_waiter& w) noexcept;
// Delivers `s` to every waiter, or keeps it for the next wait.
void deliver_signal(shutdown_signal s) noexcept;

class signal_awaiter {
 public:
  explicit signal_awaiter(std::stop_token token) noexcept : token_(std::move(token)) {}
  signal_awaiter(signal_awaiter&& o) noexcept : token_(std::move(o.token_)) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    if (token_.stop_requested()) return false;
    w_.waiter = h;
    if (!signal_wait_begin(w_)) return false;
    // After registration: a stop that fires inline here unlinks us and
    // posts the resumption; it cannot run us inline.
    callback_.emplace(token_, canceller{this});
    return true;
  }
  result<shutdown_signal> await_resume() noexcept {
    callback_.reset();
    if (w_.got) return *w_.got;
    if (w_.error) return fail(w_.error);
    return fail(std::errc::operation_canceled);
  }

 private:
  struct canceller {
    signal_awaiter* self;
    void operator()() const noexcept { signal_wait_cancel(self->w_); }
  };
  std::stop_token token_;
  signal_waiter w_;
  std::optional<std::stop_callback<canceller>> callback_;
};

}  // namespace detail

/// Resumes, on the worker that awaited it, when the process is asked to
/// stop: SIGINT or SIGTERM (on Windows: Ctrl-C, Ctrl-Break, console close).
/// A signal that arrives while nobody waits is kept for the next wait, so
/// none is lost. The first call replaces the default handlers of those
/// signals for the rest of the process. `token` cancels the wait
/// (operation_canceled). Only on a runtime worker. If the handlers cannot
/// be installed (POSIX: no descriptor left for the relay's pipe), the wait
/// ends at once with that error rather than never; the next call tries
/// again.
inline detail::signal_awaiter ctrl_c(std::stop_token token = {}) noexcept {
  return detail::signal_awaiter(std::move(token));
}

}  // namespace corio
