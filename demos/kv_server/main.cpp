// demos/kv_server/main.cpp: the key-value server's command line. The
// server itself is in server.hpp and the files next to it.
//
//   kv_server --port 6380 --threads 1
//   kv_server listening on 127.0.0.1:6380 (backend uring, 1 threads)
//   redis-cli -p 6380        redis-benchmark -p 6380 -t set,get -q
//
// Ctrl-C (SIGINT, SIGTERM) stops accepting, closes the connections and exits 0.
#include <fmt/core.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <string>

#include "common/args.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "corio/corio.hpp"
#include "kv_server/server.hpp"

namespace {

struct settings {
  corio::net::endpoint address;
  corio::runtime_options runtime;
  kv::options kv;
};

std::optional<int> parse_options(int argc, const char* const* argv, settings& out) {
  std::uint16_t port = 6379;
  std::string host = "127.0.0.1";
  std::uint64_t threads = 1;
  std::string backend = "auto";
  std::uint64_t max_request = out.kv.max_request;
  std::uint64_t pubsub_limit = out.kv.pubsub_limit;
  std::uint64_t shards = out.kv.shards;
  demo::args cli("kv_server",
                 "A key-value server speaking Redis's protocol (RESP2): strings, expiry, KEYS/SCAN,\n"
                 "pub/sub. redis-cli and redis-benchmark talk to it. Stop it with Ctrl-C.");
  cli.integer("port", "P", port, std::uint16_t{0}, std::uint16_t{65535},
              "port to listen on; 0 picks a free one (printed at start)")
      .text("host", "ADDR", host, "address to listen on, IPv4 or IPv6 (::1, 0.0.0.0, ::)")
      .integer("threads", "N", threads, std::uint64_t{1}, std::uint64_t{1024}, "worker threads")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .integer("max-request", "BYTES", max_request, std::uint64_t{1024}, std::uint64_t{1} << 32,
               "largest request a client may send; a larger one closes the connection")
      .integer("pubsub-limit", "BYTES", pubsub_limit, std::uint64_t{1024}, std::uint64_t{1} << 32,
               "bytes queued for a subscriber before it is disconnected")
      .integer("shards", "N", shards, std::uint64_t{1}, std::uint64_t{1} << 16,
               "stripes of the keyspace, each with its own lock");
  if (auto code = cli.parse(argc, argv)) return code;
  auto at = demo::listen_address(host, port);
  if (!at) return cli.fail("--host: '" + host + "' is not an IPv4 or IPv6 address");
  out.address = *at;
  out.runtime.threads = static_cast<unsigned>(threads);
  out.runtime.backend = *corio::parse_backend_kind(backend);  // choice() checked the name
  out.kv.threads = static_cast<unsigned>(threads);
  out.kv.max_request = static_cast<std::size_t>(max_request);
  out.kv.pubsub_limit = static_cast<std::size_t>(pubsub_limit);
  out.kv.shards = static_cast<std::size_t>(shards);
  return std::nullopt;
}

corio::task<void> wait_for_ctrl_c(std::stop_token stop) {
  auto sig = co_await corio::ctrl_c(stop);
  if (sig) fmt::print(stderr, "kv_server: shutting down\n");
}

// Serves until Ctrl-C (or until the listener fails): whichever ends first
// stops the other, and when_any joins both.
corio::task<void> run(kv::server& server, corio::net::tcp_listener& listener) {
  co_await corio::when_any([&](std::stop_token stop) { return server.serve(listener, stop); },
                           [](std::stop_token stop) { return wait_for_ctrl_c(stop); });
}

}  // namespace

int main(int argc, char** argv) {
  settings opt;
  if (auto code = parse_options(argc, argv, opt)) return *code;
  demo::raise_descriptor_limit();
  auto started = demo::start_server("kv_server", opt.address, opt.runtime);
  if (!started) return 1;
  kv::server server(opt.kv);
  started->rt.block_on(run(server, started->listener));
  fmt::print(stderr, "kv_server: {} connections served\n",
             server.state().accepted.load(std::memory_order_relaxed));
  return 0;
}
