// demos/common/host.cpp: resolving a client demo's --host.
#include "common/host.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cstdio>

#include "corio/cancel.hpp"
#include "corio/net/resolve.hpp"

namespace demo {

std::optional<corio::net::endpoint> listen_address(std::string_view host, std::uint16_t port) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto at = corio::net::endpoint::parse(host, port);
  if (!at) return std::nullopt;
  return *at;
}

std::optional<std::vector<corio::net::endpoint>> resolve_host(std::string_view program,
                                                             const std::string& host,
                                                             std::uint16_t port,
                                                             corio::backend_kind backend) {
  std::string_view bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  if (auto ep = corio::net::endpoint::parse(bare, port)) return std::vector{*ep};
  auto rt = corio::runtime::create({.threads = 1, .backend = backend, .blocking_threads = 1});
  if (!rt) {
    fmt::print(stderr, "{}: cannot start the runtime: {}\n", program, rt.error().message());
    return std::nullopt;
  }
  auto found = rt->block_on([](std::string name, std::string service) -> corio::task<corio::net::resolve_result> {
    co_return co_await corio::with_timeout(corio::net::resolve(name, service), std::chrono::seconds(10));
  }(host, std::to_string(port)));
  if (!found) {
    fmt::print(stderr, "{}: --host {}: {}\n", program, host, found.error().message());
    return std::nullopt;
  }
  return std::move(*found);
}

}  // namespace demo
