// lib/sys/posix/signal.cpp: SIGINT and SIGTERM turned into deliver_signal;
// SIGPIPE kept off the workers.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <thread>

#include "core/fault.hpp"
#include "corio/signal.hpp"
#include "sys/signal.hpp"

namespace corio::detail::sys {

namespace {

int pipe_fds[2] = {-1, -1};

// Async-signal-safe: one byte naming the signal, read by the thread below.
void on_signal(int signo) {
  int saved = errno;
  char b = static_cast<char>(signo);
  [[maybe_unused]] auto n = ::write(pipe_fds[1], &b, 1);
  errno = saved;
}

// Runs for the life of the process, blocked in read() between signals:
// a handler may not take locks, this thread may.
void relay() {
  for (;;) {
    char b;
    auto n = ::read(pipe_fds[0], &b, 1);
    if (n == 1) {
      deliver_signal(b == SIGTERM ? shutdown_signal::terminate : shutdown_signal::interrupt);
    } else if (n < 0 && errno != EINTR) {
      return;
    }
  }
}

}  // namespace

std::error_code install_signal_handlers() noexcept {
  int fds[2];
  if (fault_hit(fault_site::signal_pipe)) {
    errno = EMFILE;  // injected: no descriptor left
    return {errno, std::generic_category()};
  }
  if (::pipe2(fds, O_CLOEXEC) != 0) return {errno, std::generic_category()};
  pipe_fds[0] = fds[0];
  pipe_fds[1] = fds[1];
  try {
    std::thread(relay).detach();
  } catch (const std::system_error& e) {
    ::close(fds[0]);
    ::close(fds[1]);
    pipe_fds[0] = pipe_fds[1] = -1;
    return e.code();
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  return {};
}

void prepare_worker_thread() noexcept {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

}  // namespace corio::detail::sys
