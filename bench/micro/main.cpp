// bench/micro/main.cpp: registration of every case, the corio runtimes they
// run on, and the shared socket helpers. Usage:
//   corio_micro [--benchmark_filter=REGEX] [--benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true] [--benchmark_out=r.json
//       --benchmark_out_format=json]
//   python3 bench/micro/compare.py r.json    # the corio/asio ratio table
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "common.hpp"

namespace micro {

void register_task_benchmarks();
void register_wake_benchmarks();
void register_io_benchmarks();
void register_timer_benchmarks();

namespace {

std::mutex runtimes_mu;
std::map<std::pair<corio::backend_kind, unsigned>, std::unique_ptr<corio::runtime>>& runtimes() {
  static std::map<std::pair<corio::backend_kind, unsigned>, std::unique_ptr<corio::runtime>> m;
  return m;
}

bool wanted(std::string_view name) {
  const char* env = std::getenv("CORIO_MICRO_BACKENDS");
  if (!env || !*env) return true;
  return std::string_view(env).find(name) != std::string_view::npos;
}

}  // namespace

const std::vector<corio_backend>& corio_backends() {
  static const std::vector<corio_backend> list = [] {
    std::vector<corio_backend> out;
    const std::pair<corio::backend_kind, const char*> candidates[] = {
        {corio::backend_kind::io_uring, "corio"},
        {corio::backend_kind::epoll, "corio-epoll"},
    };
    for (auto [kind, prefix] : candidates) {
      if (!wanted(corio::to_string(kind))) continue;
      auto rt = corio::runtime::create({.threads = 1, .backend = kind});
      if (!rt) {
        std::fprintf(stderr, "corio_micro: %s backend unavailable (%s); its cases are skipped\n",
                     std::string(corio::to_string(kind)).c_str(), rt.error().message().c_str());
        continue;
      }
      std::lock_guard lock(runtimes_mu);
      runtimes()[{kind, 1u}] = std::make_unique<corio::runtime>(std::move(*rt));
      out.push_back({kind, prefix});
    }
    return out;
  }();
  return list;
}

corio::runtime& corio_runtime(corio::backend_kind kind, unsigned threads) {
  std::lock_guard lock(runtimes_mu);
  auto& slot = runtimes()[{kind, threads}];
  if (!slot) {
    auto rt = corio::runtime::create({.threads = threads, .backend = kind});
    if (!rt) {
      std::fprintf(stderr, "corio_micro: runtime::create(%u threads, %s) failed: %s\n", threads,
                   std::string(corio::to_string(kind)).c_str(), rt.error().message().c_str());
      std::abort();
    }
    slot = std::make_unique<corio::runtime>(std::move(*rt));
  }
  return *slot;
}

void stop_corio_runtimes() {
  std::lock_guard lock(runtimes_mu);
  runtimes().clear();
}

std::vector<benchmark::internal::Benchmark*> register_corio(std::string_view name, corio_case fn) {
  std::vector<benchmark::internal::Benchmark*> out;
  for (const auto& b : corio_backends()) {
    auto full = b.prefix + "/" + std::string(name);
    out.push_back(common(benchmark::RegisterBenchmark(
        full.c_str(), [fn, kind = b.kind](benchmark::State& st) { fn(st, kind); })));
  }
  return out;
}

benchmark::internal::Benchmark* register_asio(std::string_view name,
                                              void (*fn)(benchmark::State&),
                                              std::string_view prefix) {
  auto full = std::string(prefix) + "/" + std::string(name);
  return common(benchmark::RegisterBenchmark(full.c_str(), fn));
}

void measured::cpu_times(double& user_ns, double& sys_ns) noexcept {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) { return 1e9 * static_cast<double>(tv.tv_sec) + 1e3 * tv.tv_usec; };
  user_ns = ns(ru.ru_utime);
  sys_ns = ns(ru.ru_stime);
}

ready_pair::ready_pair() {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds_) != 0) {
    std::fprintf(stderr, "corio_micro: socketpair: %s\n", std::strerror(errno));
    std::abort();
  }
  fill();
}

ready_pair::~ready_pair() {
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void ready_pair::fill() {
  static const char block[16384] = {};
  for (;;) {
    ssize_t n = ::write(fds_[1], block, sizeof block);
    if (n > 0) {
      left_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: the socket buffer is full
  }
  if (left_ < 64) {
    std::fprintf(stderr, "corio_micro: could not fill the socket pair\n");
    std::abort();
  }
}

corio::net::tcp_stream adopt_stream(int fd) {
  auto* core = new corio::detail::socket_core;
  core->handle = fd;
  return corio::net::tcp_stream(corio::detail::socket_ptr(core));
}

}  // namespace micro

int main(int argc, char** argv) {
  micro::register_task_benchmarks();
  micro::register_wake_benchmarks();
  micro::register_io_benchmarks();
  micro::register_timer_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("corio_backends", [] {
    std::string s;
    for (const auto& b : micro::corio_backends()) s += (s.empty() ? "" : ",") + b.prefix;
    return s;
  }());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  micro::stop_corio_runtimes();
  return 0;
}
