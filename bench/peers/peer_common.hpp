// Command line and startup helpers shared by the peer echo servers.
//
// The peers are comparison baselines for corio's benchmarks, not part of the
// library. Everything here runs once at startup; none of it is on the echo
// path, so each peer's .cpp file alone shows what its hot loop costs.
//
// Common contract (benchmark scripts rely on it):
//   --port P      port on 127.0.0.1; 0 picks an ephemeral one (default 0)
//   --threads N   worker threads (default 1); with N > 1 every thread has its
//                 own listening socket bound with SO_REUSEPORT to one port
//   --help        usage on stdout, exit 0
//   bad arguments: usage on stderr, exit 2; startup errors: message, exit 1
//   once listening: exactly one line "listening on 127.0.0.1:PORT" on stdout
//   SIGINT / SIGTERM: stop, clean up, exit 0
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace peer {

/// Parsed command line.
struct options {
  std::uint16_t port = 0;
  unsigned threads = 1;
};

/// Upper bound on --threads; far above any machine we benchmark on, low
/// enough that a typo does not start a million threads.
inline constexpr unsigned max_threads = 1024;

/// Program name used as the prefix of every diagnostic; set by parse_args.
inline const char* program = "peer";

inline void print_usage(std::FILE* to) {
  std::fprintf(to,
               "usage: %s [--port P] [--threads N] [--help]\n"
               "  --port P     TCP port on 127.0.0.1; 0 picks an ephemeral port (default 0)\n"
               "  --threads N  worker threads, each with its own event loop and its own\n"
               "               SO_REUSEPORT listening socket (default 1, at most %u)\n"
               "  --help       print this help and exit\n"
               "Prints \"listening on 127.0.0.1:PORT\" once ready; exits 0 on SIGINT/SIGTERM.\n",
               program, max_threads);
}

/// Prints `message` and the usage to stderr and exits with status 2.
[[noreturn]] inline void usage_error(const char* message, std::string_view arg) {
  std::fprintf(stderr, "%s: %s '%.*s'\n", program, message, static_cast<int>(arg.size()),
               arg.data());
  print_usage(stderr);
  std::exit(2);
}

/// Parses the whole of `text` as an unsigned number in [lo, hi].
inline bool parse_number(std::string_view text, unsigned lo, unsigned hi, unsigned& out) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < lo || value > hi) {
    return false;
  }
  out = value;
  return true;
}

/// Parses the common command line; exits 0 on --help and 2 on bad arguments.
inline options parse_args(int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr) {
    const char* slash = std::strrchr(argv[0], '/');
    program = slash != nullptr ? slash + 1 : argv[0];
  }
  options opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      std::exit(0);
    }
    // Accept both "--name value" and "--name=value".
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name != "--port" && name != "--threads") usage_error("unknown argument", arg);
    if (!has_value) {
      if (i + 1 >= argc) usage_error("missing value for", arg);
      value = argv[++i];
    }
    unsigned number = 0;
    if (name == "--port") {
      if (!parse_number(value, 0, 65535, number)) usage_error("invalid port", value);
      opts.port = static_cast<std::uint16_t>(number);
    } else {
      if (!parse_number(value, 1, max_threads, number)) usage_error("invalid thread count", value);
      opts.threads = number;
    }
  }
  return opts;
}

/// Prints the single line benchmark scripts wait for, and flushes it.
inline void announce(std::uint16_t port) {
  std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
}

/// Prints "program: what: strerror(err)" to stderr and exits with status 1.
/// Startup failures only; also used for "cannot happen" failures in workers,
/// hence _Exit: other threads may still be running.
[[noreturn]] inline void fail(const char* what, int err) {
  std::fprintf(stderr, "%s: %s: %s\n", program, what, std::strerror(err));
  std::fflush(stdout);
  std::_Exit(1);
}

/// Opens a socket listening on 127.0.0.1:`port` (0 = ephemeral) and returns
/// its fd; `port` is updated to the port actually bound. `reuse_port` sets
/// SO_REUSEPORT so that every worker thread can bind its own socket to the
/// same port. `type_flags` is or-ed into the socket type (SOCK_NONBLOCK).
/// Exits with status 1 on failure.
inline int open_listener(std::uint16_t& port, bool reuse_port, int type_flags) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);
  if (fd < 0) fail("socket", errno);
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    fail("setsockopt(SO_REUSEADDR)", errno);
  }
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    fail("setsockopt(SO_REUSEPORT)", errno);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    char what[64];
    std::snprintf(what, sizeof what, "bind 127.0.0.1:%u", static_cast<unsigned>(port));
    fail(what, errno);
  }
  if (::listen(fd, SOMAXCONN) != 0) fail("listen", errno);
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail("getsockname", errno);
  port = ntohs(addr.sin_port);
  return fd;
}

/// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it
/// starts afterwards, so that only wait_for_stop_signal sees them; ignores
/// SIGPIPE (sends use MSG_NOSIGNAL too, this is a second guard).
/// Call before starting any thread.
inline sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) fail("pthread_sigmask", err);
  ::signal(SIGPIPE, SIG_IGN);
  return set;
}

/// Waits until SIGINT or SIGTERM (blocked by block_stop_signals) arrives.
inline void wait_for_stop_signal(const sigset_t& set) {
  int sig = 0;
  while (::sigwait(&set, &sig) != 0) {
  }
}

}  // namespace peer
