// bench/stop_scale.cpp: the cost of one message as idle connections grow,
// each with its own stop token (the pattern the docs recommend: a
// connection's reads and writes under with_stop(op, its token)). Every
// per-operation path (with_stop's registration, the timer heap, the
// backend) must be O(1) in the number of connections, timers and tokens, so
// latency and CPU per message must stay flat from 0 to 10,000 idle
// connections.
//
// One worker thread. For each count N: N idle loopback connections (their
// client ends held by a child process, so each process needs N descriptors),
// each
// with a read pending under with_stop(read, its own token) and a
// with_timeout; then one active connection does `messages` round trips of
// `size` bytes through an echo coroutine, both sides under with_stop with
// their own tokens. Prints p50/p99 round-trip latency and the process's CPU
// time per round trip. Usage:
//   corio_stop_scale [--backend uring|epoll] [--messages M] [--counts 0,1000,10000]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "corio/corio.hpp"

namespace {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

constexpr std::size_t size = 64;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Forks a process that connects `n` clients to 127.0.0.1:port and holds
// them until it is killed. Returns its pid.
pid_t hold_clients(std::uint16_t port, std::size_t n) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (std::size_t i = 0; i < n; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) _exit(1);
  }
  for (;;) pause();
}

struct idle_conn {
  corio::net::tcp_stream server;
  std::stop_source stop;
  std::array<std::byte, 16> buf{};
};

// An idle connection's reader: waits under its own token (and a timeout
// that never fires, so the timer heap holds N timers too).
corio::task<void> idle_reader(idle_conn& c) {
  (void)co_await corio::with_stop(corio::with_timeout(c.server.read(c.buf), 1h), c.stop.get_token());
}

// Owns its stream: a child of the scope must not refer to the body's
// locals, which are destroyed when the body returns, before the scope joins
// its children.
corio::task<void> echo(corio::net::tcp_stream s, std::stop_token stop) {
  std::array<std::byte, size> buf;
  for (;;) {
    auto n = co_await corio::with_stop(s.read_exact(buf), stop);
    if (!n) co_return;
    auto w = co_await corio::with_stop(s.write_all(buf), stop);
    if (!w) co_return;
  }
}

struct figures {
  double p50_us, p99_us, cpu_us_per_msg;
};

corio::task<figures> measure(std::size_t idle, int messages) {
  auto listener = corio::net::tcp_listener::bind(corio::net::endpoint::loopback_v4(0));
  if (!listener) throw std::runtime_error("bind: " + listener.error().message());
  const auto port = listener->local_endpoint()->port();
  auto pair = [&]() -> corio::task<std::pair<corio::net::tcp_stream, corio::net::tcp_stream>> {
    auto c = co_await corio::net::tcp_stream::connect(corio::net::endpoint::loopback_v4(port));
    auto s = co_await listener->accept();
    if (!c || !s) throw std::runtime_error("connect/accept failed (descriptor limit?)");
    co_return std::pair{std::move(*c), std::move(*s)};
  };
  std::vector<std::unique_ptr<idle_conn>> conns;
  conns.reserve(idle);
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(messages));
  double cpu = 0;
  // The idle readers obey their own tokens, not the scope's: stop them all
  // however the body ends, or with_scope would wait for them forever.
  auto stop_idle = [&] {
    for (auto& c : conns) c->stop.request_stop();
  };
  co_await corio::with_scope([&](corio::scope& s) -> corio::task<void> {
    std::stop_callback on_failure(s.token(), stop_idle);
    const pid_t holder = idle ? hold_clients(port, idle) : 0;
    for (std::size_t i = 0; i < idle; ++i) {
      auto sv = co_await listener->accept();
      if (!sv) throw std::runtime_error("accept: " + sv.error().message());
      conns.push_back(std::make_unique<idle_conn>(std::move(*sv)));
      s.spawn_local(idle_reader(*conns.back()));
    }
    struct reap_holder {
      pid_t pid;
      ~reap_holder() {
        if (pid <= 0) return;
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    } holder_guard{holder};
    auto [client, server] = co_await pair();
    std::stop_source server_stop, client_stop;
    s.spawn_local(echo(std::move(server), server_stop.get_token()));
    const auto client_token = client_stop.get_token();
    std::array<std::byte, size> out{}, in{};
    for (int i = 0; i < messages / 10; ++i) {  // warm-up
      (void)co_await corio::with_stop(client.write_all(out), client_token);
      (void)co_await corio::with_stop(client.read_exact(in), client_token);
    }
    const double cpu0 = cpu_seconds();
    for (int i = 0; i < messages; ++i) {
      const auto t0 = clk::now();
      auto w = co_await corio::with_stop(client.write_all(out), client_token);
      auto r = co_await corio::with_stop(client.read_exact(in), client_token);
      if (!w || !r) throw std::runtime_error("round trip failed");
      lat.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
    }
    cpu = cpu_seconds() - cpu0;
    server_stop.request_stop();
    stop_idle();
  });
  std::sort(lat.begin(), lat.end());
  auto at = [&](double q) { return lat[static_cast<std::size_t>(q * static_cast<double>(lat.size() - 1))]; };
  co_return figures{at(0.5), at(0.99), cpu / messages * 1e6};
}

}  // namespace

int main(int argc, char** argv) {
  corio::runtime_options opts{.threads = 1};
  int messages = 20000;
  std::vector<std::size_t> counts{0, 1000, 10000};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i], v = argv[i + 1];
    if (a == "--backend") {
      opts.backend = v == "epoll" ? corio::backend_kind::epoll : corio::backend_kind::io_uring;
    } else if (a == "--messages") {
      messages = std::atoi(argv[i + 1]);
    } else if (a == "--counts") {
      counts.clear();
      for (const char* p = argv[i + 1]; *p;) {
        char* end;
        counts.push_back(std::strtoul(p, &end, 10));
        p = *end ? end + 1 : end;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--backend uring|epoll] [--messages M] [--counts 0,1000,10000]\n", argv[0]);
      return 2;
    }
  }
  // One descriptor per idle connection here (the child holds the others).
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const rlim_t want = *std::max_element(counts.begin(), counts.end()) + 64;
  if (nofile.rlim_max < want) {
    rlimit more{want, want};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0) nofile = more;
  }
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur < want) {
    std::fprintf(stderr, "descriptor limit %llu is below the %llu needed\n",
                 static_cast<unsigned long long>(nofile.rlim_cur), static_cast<unsigned long long>(want));
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto rt = corio::runtime::create(opts);
  if (!rt) {
    std::fprintf(stderr, "runtime: %s\n", rt.error().message().c_str());
    return 1;
  }
  std::printf("backend %s, 1 worker, %d round trips of %zu bytes, each connection with its own token\n",
              std::string(corio::to_string(rt->backend())).c_str(), messages, size);
  std::printf("%8s %10s %10s %14s\n", "idle", "p50 us", "p99 us", "CPU us/msg");
  for (auto n : counts) {
    auto f = rt->block_on(measure(n, messages));
    std::printf("%8zu %10.1f %10.1f %14.2f\n", n, f.p50_us, f.p99_us, f.cpu_us_per_msg);
  }
}
