// demos/resolve/main.cpp: prints every address of a host name.
//
//   resolve localhost
//   127.0.0.1 (IPv4)
//   resolve example.org https
//   [2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443 (IPv6)
//   93.184.215.14:443 (IPv4)
//
// One line per endpoint, in the order the system prefers (the order
// tcp_stream::connect(host, port) tries them in, the families alternating).
// Exit code: 0 found, 1 not found (the reason on stderr), 2 bad arguments.
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "corio/corio.hpp"

namespace {

constexpr std::string_view usage =
    "usage: resolve HOST [SERVICE] [--backend auto|uring|epoll|iocp] [--timeout SECONDS]\n"
    "Prints every address of HOST (a name, or an IPv4/IPv6 address), one per line.\n"
    "SERVICE is a port number or a service name (http); without it no port is shown.\n";

int bad(std::string_view why) {
  fmt::print(stderr, "resolve: {}\n{}", why, usage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host, service;
  bool have_host = false, have_service = false;
  corio::runtime_options options{.threads = 1};
  long timeout_s = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      fmt::print("{}", usage);
      return 0;
    }
    if (a == "--backend" || a == "--timeout") {
      if (i + 1 == argc) return bad(fmt::format("{} needs a value", a));
      const std::string_view v = argv[++i];
      if (a == "--backend") {
        auto kind = corio::parse_backend_kind(v);
        if (!kind) return bad(fmt::format("--backend: unknown backend '{}'", v));
        options.backend = *kind;
      } else {
        try {
          timeout_s = std::stol(std::string(v));
        } catch (...) {
          timeout_s = 0;
        }
        if (timeout_s < 1 || timeout_s > 3600) return bad("--timeout: a number of seconds, 1-3600");
      }
    } else if (a.starts_with("--")) {
      return bad(fmt::format("unknown option {}", a));
    } else if (!have_host) {
      host = a;
      have_host = true;
    } else if (!have_service) {
      service = a;
      have_service = true;
    } else {
      return bad(fmt::format("unexpected argument '{}'", a));
    }
  }
  if (!have_host) return bad("HOST is missing");

  auto rt = corio::runtime::create(options);
  if (!rt) {
    fmt::print(stderr, "resolve: cannot start the runtime: {}\n", rt.error().message());
    return 1;
  }
  auto found = rt->block_on([](std::string name, std::string port,
                               long seconds) -> corio::task<corio::net::resolve_result> {
    co_return co_await corio::with_timeout(corio::net::resolve(name, port), std::chrono::seconds(seconds));
  }(host, service, timeout_s));
  if (!found) {
    fmt::print(stderr, "resolve: {}: {}\n", host, found.error().message());
    return 1;
  }
  for (const auto& ep : *found) {
    const char* family = ep.is_v4() ? "IPv4" : "IPv6";
    if (have_service) {
      fmt::print("{} ({})\n", ep.to_string(), family);
    } else {
      fmt::print("{} ({})\n", ep.address_string(), family);
    }
  }
  return 0;
}
