// demos/proxy/main.cpp: a TCP proxy. Each accepted connection is joined to a
// new connection to the target by corio::io::copy_bidirectional, which
// moves both directions and passes a half-close on (a client that shuts
// down its sending side makes the proxy shut down its side towards the
// target, and the target's answer still comes back). One line per closed
// connection with its byte counts; a summary when it stops (Ctrl-C, or
// --max-connections). With --tls-cert and --tls-key it terminates TLS: each
// client's TLS stream (handshake bounded by 10 s) is joined to a plain TCP
// connection to the target, close_notify passed on as a half-close.
//
//   proxy --listen 0 --to 127.0.0.1:8080
//   proxy listening on 127.0.0.1:40123 (backend uring, 2 threads)
//   proxy --listen 8443 --to 127.0.0.1:8080 --tls-cert cert.pem --tls-key key.pem
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/args.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "common/tls.hpp"
#include "corio/corio.hpp"
#include "corio/io/copy.hpp"
#include "corio/tls/stream.hpp"

namespace {

using namespace std::chrono_literals;

// Where the proxy connects: a host (a name or a numeric address) and a port.
struct target {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
  }
};

// "HOST:PORT" or "[V6]:PORT".
std::optional<target> parse_target(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const auto digits = s.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return target{std::string(host), static_cast<std::uint16_t>(port)};
}

struct totals {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> up{0};
  std::atomic<std::uint64_t> down{0};
};

struct options {
  corio::net::endpoint listen;
  target to;
  corio::runtime_options runtime;
  std::uint64_t max_connections = 0;
  std::chrono::milliseconds connect_timeout{10000};
  bool quiet = false;
  std::string tls_cert, tls_key;
  const corio::tls::context* tls = nullptr;  // --tls-cert: set in main
};

// How long a client may take over its TLS handshake.
constexpr auto handshake_limit = 10s;

// Connects to the target and copies both ways between it and `client` (a
// tcp_stream, or a tls::stream whose close_notify is the half-close).
template <class Client>
corio::task<std::error_code> join_to_target(Client& client, const options& opt,
                                            corio::io::copy_totals& moved, std::stop_token stop) {
  // The name is looked up per connection (its addresses may change), and
  // its addresses raced as RFC 8305 outlines (corio::net::tcp_stream).
  auto upstream = co_await corio::with_stop(
      corio::with_timeout(corio::net::tcp_stream::connect(opt.to.host, opt.to.port),
                          opt.connect_timeout),
      stop);
  if (!upstream) co_return upstream.error();
  (void)upstream->set_nodelay(true);
  auto copied = co_await corio::io::copy_bidirectional(client, *upstream, stop, &moved);
  if (!copied) co_return copied.error();
  co_return std::error_code();
}

// One client: connect to the target, then copy both ways until both sides
// are done (or an error, or a stop). Says what moved.
corio::task<void> relay(corio::net::tcp_stream client, std::uint64_t id, const options& opt,
                        totals& sum, std::stop_token stop) {
  const auto peer = client.peer_endpoint();
  const std::string from = peer ? peer->to_string() : "?";
  (void)client.set_nodelay(true);
  corio::io::copy_totals moved;
  std::error_code error;
  std::string detail;
  if (opt.tls) {
    auto tls = corio::tls::stream<>::server(*opt.tls, std::move(client));
    if (!tls) {
      error = tls.error();
    } else {
      auto hs =
          co_await corio::with_stop(corio::with_timeout(tls->handshake(), handshake_limit), stop);
      if (hs) error = co_await join_to_target(*tls, opt, moved, stop);
      else error = hs.error();
      if (error) detail = tls->failure_detail();
    }
  } else {
    error = co_await join_to_target(client, opt, moved, stop);
  }
  sum.up += moved.a_to_b;
  sum.down += moved.b_to_a;
  if (error) ++sum.failed;
  if (!opt.quiet) {
    fmt::print("proxy: #{} {} -> {}: {} bytes up, {} bytes down, {}\n", id, from,
               opt.to.to_string(), moved.a_to_b, moved.b_to_a,
               error ? "error: " + error.message() + (detail.empty() ? "" : " (" + detail + ")")
                     : std::string("closed"));
    std::fflush(stdout);
  }
}

// Accepts until `accepting` stops (or --max-connections were accepted);
// joins every relay before it returns.
corio::task<void> serve(corio::net::tcp_listener& listener, const options& opt, totals& sum,
                        std::stop_token accepting, std::stop_token relays) {
  corio::scope children;
  while (opt.max_connections == 0 || sum.connections < opt.max_connections) {
    auto conn = co_await corio::with_stop(listener.accept(), accepting);
    if (!conn) {
      if (conn.error() == std::errc::operation_canceled || conn.error() == corio::errc::not_open)
        break;
      if (conn.error() == std::errc::too_many_files_open ||
          conn.error() == std::errc::too_many_files_open_in_system) {
        (void)co_await corio::with_stop(corio::sleep_for(100ms), accepting);
      }
      continue;  // about that one connection (ECONNABORTED, ...)
    }
    const auto id = ++sum.connections;
    children.spawn(relay(std::move(*conn), id, opt, sum, relays));
  }
  listener.close();  // new clients are refused from now on, not left in the backlog
  co_await children.join();
}

// Runs the proxy until Ctrl-C (which cancels the open relays: each one
// still reports what it moved) or until --max-connections have finished.
corio::task<void> run(corio::net::tcp_listener& listener, const options& opt, totals& sum) {
  std::stop_source accepting, relays, served;
  corio::scope proxy;
  proxy.spawn_local([](corio::net::tcp_listener& l, const options& o, totals& s,
                       std::stop_source& stop_accepting, std::stop_source& stop_relays,
                       std::stop_source& done) -> corio::task<void> {
    co_await serve(l, o, s, stop_accepting.get_token(), stop_relays.get_token());
    done.request_stop();
  }(listener, opt, sum, accepting, relays, served));
  proxy.spawn_local([](std::stop_source& stop_accepting, std::stop_source& stop_relays,
                       std::stop_token done) -> corio::task<void> {
    auto sig = co_await corio::ctrl_c(done);
    if (!sig) co_return;
    fmt::print(stderr, "proxy: {}; closing every connection\n",
               *sig == corio::shutdown_signal::interrupt ? "interrupted" : "terminated");
    stop_accepting.request_stop();
    stop_relays.request_stop();
  }(accepting, relays, served.get_token()));
  co_await proxy.join();
}

std::optional<int> parse_options(int argc, const char* const* argv, options& out) {
  std::uint16_t port = 0;
  std::string host = "127.0.0.1";
  std::string to;
  std::optional<unsigned> threads;
  std::string backend = "auto";
  double connect_seconds = 10;
  demo::args cli("proxy",
                 "Relays every connection to a target, both ways, half-close included; one\n"
                 "line per connection with its byte counts, a summary at the end. A corio demo\n"
                 "of io::copy_bidirectional. Stop it with Ctrl-C.");
  cli.integer("listen", "P", port, std::uint16_t{0}, std::uint16_t{65535},
              "port to listen on; 0 picks a free one (printed at start)")
      .text("host", "ADDR", host, "address to listen on, IPv4 or IPv6 (::1, 0.0.0.0, ::)")
      .text("to", "HOST:PORT", to, "where to relay: a host name, an IPv4 address or [IPv6]")
      .required()
      .integer("threads", "N", threads, 1u, 1024u, "worker threads")
      .default_text("one per core")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .integer("max-connections", "N", out.max_connections, std::uint64_t{0},
               std::uint64_t{1} << 40,
               "exit 0 once N connections were accepted and have finished; 0 = serve forever")
      .number("connect-timeout", "SECONDS", connect_seconds, 0.001, 3600.0,
              "give up connecting to the target after this long")
      .flag("quiet", out.quiet, "no line per connection, only the summary")
      .text("tls-cert", "FILE",  out.tls_cert,
            "terminate TLS: clients speak TLS with this certificate chain (PEM, leaf first)")
      .text("tls-key", "FILE", out.tls_key, "with --tls-cert: its private key (PEM)");
  if (auto code = cli.parse(argc, argv)) return code;
  if (out.tls_cert.empty() != out.tls_key.empty())
    return cli.fail("--tls-cert and --tls-key go together");
  out.connect_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(connect_seconds * 1000));
  auto at = demo::listen_address(host, port);
  if (!at) return cli.fail("--host: '" + host + "' is not an IPv4 or IPv6 address");
  out.listen = *at;
  auto target = parse_target(to);
  if (!target) return cli.fail("--to: '" + to + "' is not HOST:PORT (port 1-65535)");
  out.to = *target;
  out.runtime.threads = threads.value_or(0);
  out.runtime.backend = *corio::parse_backend_kind(backend);  // choice() checked the name
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse_options(argc, argv, opt)) return *code;
  std::optional<corio::tls::context> tls;
  if (!opt.tls_cert.empty()) {
    tls = demo::server_tls("proxy", opt.tls_cert, opt.tls_key);
    if (!tls) return 1;
    opt.tls = &*tls;
  }
  demo::raise_descriptor_limit();
  auto server = demo::start_server("proxy", opt.listen, opt.runtime);
  if (!server) return 1;
  totals sum;
  server->rt.block_on(run(server->listener, opt, sum));
  fmt::print("proxy: {} connections ({} failed), {} bytes up, {} bytes down\n",
             sum.connections.load(), sum.failed.load(), sum.up.load(), sum.down.load());
  return 0;
}
