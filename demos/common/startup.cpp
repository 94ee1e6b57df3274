// demos/common/startup.cpp
#include "common/startup.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <limits>

#include "corio/log.hpp"

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

namespace demo {

std::uint64_t raise_descriptor_limit() {
#if defined(_WIN32)
  return std::numeric_limits<std::uint64_t>::max();
#else
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return std::numeric_limits<std::uint64_t>::max();
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) (void)getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
#endif
}

namespace {
// The library's diagnostics (the backend it fell back to, a failing ring),
// on stderr: corio itself never prints.
void print_log(corio::log_level level, std::string_view line) noexcept {
  try {
    fmt::print(stderr, "corio {}: {}\n", corio::to_string(level), line);
  } catch (...) {
  }
}
}  // namespace

std::optional<corio::runtime> start_runtime(std::string_view name,
                                            const corio::runtime_options& options) {
  corio::set_log_handler(print_log);
  auto rt = corio::runtime::create(options);
  if (!rt) {
    fmt::print(stderr, "{}: cannot start the runtime (backend {}): {}\n", name,
               corio::to_string(options.backend), rt.error().message());
    return std::nullopt;
  }
  return std::move(*rt);
}

std::optional<server_start> start_server(std::string_view name, const corio::net::endpoint& at,
                                         const corio::runtime_options& options,
                                         const corio::net::listen_options& listen) {
  auto rt = start_runtime(name, options);
  if (!rt) return std::nullopt;
  auto listener = corio::net::tcp_listener::bind(at, listen);
  if (!listener) {
    fmt::print(stderr, "{}: cannot listen on {}: {}\n", name, at.to_string(),
               listener.error().message());
    return std::nullopt;
  }
  auto bound = listener->local_endpoint();
  fmt::print("{} listening on {} (backend {}, {} threads)\n", name,
             bound ? bound->to_string() : at.to_string(), corio::to_string(rt->backend()),
             rt->threads());
  std::fflush(stdout);
  return server_start{std::move(*rt), std::move(*listener)};
}

}  // namespace demo
