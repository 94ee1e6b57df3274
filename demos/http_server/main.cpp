// demos/http_server/main.cpp: a static-file HTTP/1.1 server (GET, HEAD,
// keep-alive, pipelining, ranges, If-Modified-Since) with a built-in /hello
// answered from memory. The server itself is demos/http_server/server.hpp;
// docs/http.md describes it.
//
//   http_server --root ./site --port 8080
//   http_server listening on 127.0.0.1:8080 (backend uring, 2 threads)
//   http_server --root ./site --port 8443 --tls-cert cert.pem --tls-key key.pem   (HTTPS)
#include <fmt/core.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include "common/admin.hpp"
#include "common/args.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "common/tls.hpp"
#include "corio/corio.hpp"
#include "corio/tls/context.hpp"
#include "http_server/server.hpp"

namespace {

using ms = std::chrono::milliseconds;

// Serves until SIGINT/SIGTERM, then stops accepting, gives the open
// connections `grace` to finish, and cancels what remains (as echo_server).
corio::task<void> run_until_signal(corio::net::tcp_listener& listener,
                                   const http_server::config& cfg, ms grace) {
  std::stop_source accepting, connections, served;
  corio::scope server;
  if (cfg.log != nullptr) {
    // Flushes the access log once a second while the server runs, so lines
    // show up promptly though they go through a large buffer.
    server.spawn_local([](std::FILE* log, std::stop_token done) -> corio::task<void> {
      while (co_await corio::with_stop(corio::sleep_for(std::chrono::seconds(1)), done))
        std::fflush(log);
    }(cfg.log, served.get_token()));
  }
  server.spawn_local([](corio::net::tcp_listener& l, const http_server::config& c,
                        std::stop_source& stop_accepting, std::stop_source& stop_connections,
                        std::stop_source& done) -> corio::task<void> {
    co_await http_server::serve(l, c, stop_accepting.get_token(), stop_connections.get_token());
    done.request_stop();
  }(listener, cfg, accepting, connections, served));
  server.spawn_local([](ms period, std::stop_source& stop_accepting,
                        std::stop_source& stop_connections,
                        std::stop_token done) -> corio::task<void> {
    auto sig = co_await corio::ctrl_c(done);
    if (!sig) co_return;
    fmt::print(stderr, "http_server: {}; not accepting, {} ms grace for open connections\n",
               *sig == corio::shutdown_signal::interrupt ? "interrupted" : "terminated",
               period.count());
    stop_accepting.request_stop();
    (void)co_await corio::with_stop(corio::sleep_for(period), done);
    stop_connections.request_stop();
  }(grace, accepting, connections, served.get_token()));
  co_await server.join();
}

struct options {
  corio::net::endpoint address;
  corio::runtime_options runtime;
  http_server::config cfg;
  ms grace{5000};
  std::string tls_cert, tls_key;
  demo::admin_options admin;
};

std::optional<int> parse_options(int argc, const char* const* argv, options& out) {
  std::uint16_t port = 8080;
  std::string host = "127.0.0.1";
  std::string root;
  std::optional<unsigned> threads;
  std::string backend = "auto";
  double header_timeout = 10;
  double grace_seconds = 5;
  bool log = false;
  demo::args cli("http_server",
                 "Serves the files under --root over HTTP/1.1 (GET and HEAD, keep-alive,\n"
                 "pipelining, Range, If-Modified-Since), and /hello from memory. A corio demo:\n"
                 "one coroutine per connection. Stop it with Ctrl-C. See docs/http.md.");
  cli.text("root", "DIR", root, "the directory to serve (without it only /hello is served)")
      .integer("port", "P", port, std::uint16_t{0}, std::uint16_t{65535},
               "port to listen on; 0 picks a free one (printed at start)")
      .text("host", "ADDR", host, "address to listen on, IPv4 or IPv6 (::1, 0.0.0.0, ::)")
      .integer("threads", "N", threads, 1u, 1024u, "worker threads")
      .default_text("one per core")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .number("header-timeout", "SECONDS", header_timeout, 0.001, 86400.0,
              "a request head must arrive within this time: a partial one then gets 408 and "
              "the connection is closed (slowloris); an idle keep-alive connection is closed")
      .number("grace", "SECONDS", grace_seconds, 0.0, 3600.0,
              "on SIGINT/SIGTERM, how long open connections may go on before they are "
              "cancelled (the server then exits 0)")
      .flag("log", log, "print one access-log line per request on stdout (buffered)")
      .text("tls-cert", "FILE", out.tls_cert,
            "serve HTTPS with this certificate chain (PEM, leaf first)")
      .text("tls-key", "FILE", out.tls_key, "with --tls-cert: its private key (PEM)");
  demo::add_admin_options(cli, out.admin);
  if (auto code = cli.parse(argc, argv)) return code;
  if (out.tls_cert.empty() != out.tls_key.empty())
    return cli.fail("--tls-cert and --tls-key go together");
  if (!root.empty()) {
    std::error_code ec;
    const auto canonical = std::filesystem::canonical(root, ec);
    if (ec || !std::filesystem::is_directory(canonical, ec))
      return cli.fail("--root: '" + root + "' is not a directory");
    out.cfg.root = canonical.generic_string();
    while (out.cfg.root.size() > 1 && out.cfg.root.back() == '/') out.cfg.root.pop_back();
  }
  auto at = demo::listen_address(host, port);
  if (!at) return cli.fail("--host: '" + host + "' is not an IPv4 or IPv6 address");
  out.address = *at;
  out.cfg.host = host;
  out.cfg.header_timeout = ms(static_cast<std::int64_t>(header_timeout * 1000));
  out.cfg.log = log ? stdout : nullptr;
  out.grace = ms(static_cast<std::int64_t>(grace_seconds * 1000));
  out.runtime.threads = threads.value_or(0);
  out.runtime.backend = *corio::parse_backend_kind(backend);  // choice() checked the name
  out.admin.apply(out.runtime);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse_options(argc, argv, opt)) return *code;
  if (opt.cfg.log != nullptr) {
    // Log lines gather in a large buffer: one write per 64 KiB, not per line
    // (set before anything is written to stdout, as setvbuf requires).
    static char buffer[64 * 1024];
    std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  }
  std::optional<corio::tls::context> tls;
  if (!opt.tls_cert.empty()) {
    const std::array<std::string_view, 1> alpn{"http/1.1"};
    tls = demo::server_tls("http_server", opt.tls_cert, opt.tls_key, alpn);
    if (!tls) return 1;
    opt.cfg.tls = &*tls;
  }
  demo::raise_descriptor_limit();
  auto server = demo::start_server("http_server", opt.address, opt.runtime);
  if (!server) return 1;
  auto admin = demo::start_admin("http_server", server->rt, opt.admin);
  if (!admin) return 1;
  if (auto bound = server->listener.local_endpoint()) opt.cfg.port = bound->port();
  opt.cfg.pooled_reads = http_server::pooled_reads_pay_off(server->rt.backend());
  server->rt.block_on(run_until_signal(server->listener, opt.cfg, opt.grace));
  std::fflush(stdout);
  return 0;
}
