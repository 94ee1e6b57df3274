// lib/sys/posix/signal.cpp: SIGINT and SIGTERM turned into deliver_signal.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <thread>

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

void install_signal_handlers() noexcept {
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return;
  std::thread(relay).detach();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace corio::detail::sys
