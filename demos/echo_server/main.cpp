// demos/echo_server/main.cpp: the canonical corio server. Every connection
// is a coroutine that echoes what it reads until the peer closes its side;
// the accept loop spawns each one into a scope, which joins them all when
// the server stops.
//
//   echo_server --port 0 --threads 2
//   echo_server listening on 127.0.0.1:41234 (backend uring, 2 threads)
//
// kill -USR1 PID prints what every connection waits on (the runtime's
// dump); --admin-port P serves it over HTTP with the metrics
// (docs/observability.md).
#include <fmt/core.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "common/admin.hpp"
#include "common/args.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "common/tls.hpp"
#include "corio/corio.hpp"
#include "corio/tls/stream.hpp"


namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

// Decides what the accept loop does after a failed accept; returns false
// when the listener is gone and the server should stop accepting. Out of
// descriptors (EMFILE, ENFILE) or kernel memory: say so once, then wait for
// connections to close instead of spinning on an accept that fails at once.
// Anything else is about the one connection being accepted (ECONNABORTED,
// a network error handed over by accept): skip it.
corio::task<bool> keep_accepting(std::error_code ec) {
  static bool told = false;  // only the accept loop's coroutine touches it
  if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
      ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory) {
    if (!std::exchange(told, true)) {
      fmt::print(stderr, "echo_server: accept: {}; pausing accepts until connections close\n",
                 ec.message());
    }
    co_await corio::sleep_for(100ms);
    co_return true;
  }
  if (ec == corio::errc::not_open || ec == std::errc::bad_file_descriptor ||
      ec == std::errc::operation_canceled || ec == std::errc::invalid_argument) {
    co_return false;
  }
  co_return true;
}

// ---- The server (quoted in README.md as the short server example) --------

// Writes back what one read received, within `limit`. A coroutine of its
// own so that its awaiters exist only while data moves (GCC keeps every
// temporary of a co_await's expression in the frame for the coroutine's
// whole life; this frame comes from the worker's cache of freed frames).
corio::task<bool> echo_back(corio::net::tcp_stream& conn, corio::io::pooled_buffer got, ms limit,
                            const std::stop_token& stop) {
  co_return bool(
      co_await corio::with_stop(corio::with_timeout(conn.write_all(got.bytes()), limit), stop));
}

// One connection: echo every byte back until the peer closes its side, the
// server stops, or the peer stalls for `idle` (0: never): it sends nothing,
// or it takes nothing of what is echoed (a client that sends but never
// reads would otherwise hold the connection forever). read_pooled reads
// into a buffer of the runtime's, lent from when data arrives until it is
// echoed: an idle connection holds no buffer.
corio::task<void> echo(corio::net::tcp_stream conn, ms idle, std::stop_token stop) {
  (void)conn.set_nodelay(true);
  const ms limit = idle.count() ? idle : ms::max();  // max(): no timer is armed
  for (;;) {
    auto got = co_await corio::with_stop(corio::with_timeout(conn.read_pooled(), limit), stop);
    if (!got || got->empty()) co_return;  // an error, a timeout, a stop, or EOF
    if (!co_await echo_back(conn, std::move(*got), limit, stop))
      co_return;  // an error, a timeout, or a stop
  }
}

using handler = corio::task<void> (*)(corio::net::tcp_stream, ms, std::stop_token);

// Accepts until `accepting` stops (or `limit` connections, 0 = no limit),
// each connection into a scope that with_scope joins before serve returns,
// however serve ends (an exception here stops the connections first).
corio::task<void> serve(corio::net::tcp_listener& listener, std::uint64_t limit, ms idle,
                        handler handle, std::stop_token accepting, std::stop_token connections) {
  corio::scope children;
  std::stop_callback stop_all(connections, [&children] { children.request_stop(); });
  co_await corio::with_scope(children, [&](corio::scope& s) -> corio::task<void> {
    for (std::uint64_t accepted = 0; limit == 0 || accepted < limit;) {
      auto conn = co_await corio::with_stop(listener.accept(), accepting);
      if (!conn) {
        if (co_await keep_accepting(conn.error())) continue;
        break;
      }
      s.spawn(handle(std::move(*conn), idle, s.token()));
      ++accepted;
    }
    listener.close();  // new clients are refused now, not left in the backlog
  });
}

// ---- End of the server ----------------------------------------------------

// --tls: the server's TLS context, set once in main before serving.
const corio::tls::context* tls_context = nullptr;

// The same echo over TLS: a handshake (bounded by 10 s, or --idle-timeout
// when set), then read/write_all exactly as above (each bounded by
// --idle-timeout), and close_notify in answer to the client's.
corio::task<void> echo_tls(corio::net::tcp_stream conn, ms idle, std::stop_token stop) {
  (void)conn.set_nodelay(true);
  auto tls = corio::tls::stream<>::server(*tls_context, std::move(conn));
  if (!tls) co_return;
  const ms handshake_limit = idle.count() ? idle : ms(10'000);
  if (!co_await corio::with_stop(corio::with_timeout(tls->handshake(), handshake_limit), stop))
    co_return;
  const ms limit = idle.count() ? idle : ms::max();
  std::array<std::byte, 16 * 1024> buf;
  for (;;) {
    auto n = co_await corio::with_stop(corio::with_timeout(tls->read(buf), limit), stop);
    if (!n) co_return;  // an error (a truncated stream among them), a timeout, a stop
    if (*n == 0) break;  // the client's close_notify
    auto echoed = std::span(buf).first(*n);
    if (!co_await corio::with_stop(corio::with_timeout(tls->write_all(echoed), limit), stop))
      co_return;
  }
  (void)co_await corio::with_stop(tls->shutdown(), stop);
}

// The grace period: waits for `period`, or less when `cut` stops (serve
// ended on its own, or a second signal came; that one is said on stderr).
corio::task<void> grace_period(ms period, std::stop_token done) {
  std::stop_source cut;
  std::stop_callback on_done(done, [&cut] { cut.request_stop(); });
  std::stop_source over;
  corio::scope second;
  second.spawn_local([](std::stop_source& end_grace, std::stop_token grace_over) -> corio::task<void> {
    if (co_await corio::ctrl_c(grace_over)) {
      fmt::print(stderr, "echo_server: second signal; ending the grace now\n");
      end_grace.request_stop();
    }
  }(cut, over.get_token()));
  (void)co_await corio::with_stop(corio::sleep_for(period), cut.get_token());
  over.request_stop();
  co_await second.join();
}

// Graceful shutdown: on SIGINT/SIGTERM stop accepting (serve closes the
// listener, so new clients are refused), give the open connections `grace`
// to finish (a second signal cuts it short), then cancel what remains.
// Returns when serve has joined every connection (or ended on its own,
// e.g. --max-connections).
corio::task<void> run_until_signal(corio::net::tcp_listener& listener, std::uint64_t limit, ms idle,
                                   handler handle, ms grace) {
  std::stop_source accepting, connections, served;
  corio::scope server;
  server.spawn_local([](corio::net::tcp_listener& l, std::uint64_t max, ms quiet, handler h,
                        std::stop_source& stop_accepting, std::stop_source& stop_connections,
                        std::stop_source& done) -> corio::task<void> {
    co_await serve(l, max, quiet, h, stop_accepting.get_token(), stop_connections.get_token());
    done.request_stop();  // ends the signal wait below if nobody pressed Ctrl-C
  }(listener, limit, idle, handle, accepting, connections, served));
  server.spawn_local([](ms period, std::stop_source& stop_accepting,
                        std::stop_source& stop_connections,
                        std::stop_token done) -> corio::task<void> {
    auto sig = co_await corio::ctrl_c(done);
    if (!sig) co_return;
    stop_accepting.request_stop();
    fmt::print(stderr,
               "echo_server: {}; not accepting, {} ms grace for open connections "
               "(a second signal ends it)\n",
               *sig == corio::shutdown_signal::interrupt ? "interrupted" : "terminated",
               period.count());
    co_await grace_period(period, done);
    stop_connections.request_stop();
  }(grace, accepting, connections, served.get_token()));
  co_await server.join();
}

struct options {
  corio::net::endpoint address;
  corio::runtime_options runtime;
  std::uint64_t max_connections = 0;
  ms idle_timeout{0};
  ms grace{5000};
  bool reuse_port = false;
  bool tls = false;
  std::string tls_cert, tls_key;
  demo::admin_options admin;
};

// Fills `out` from the command line; returns the exit code when the program
// should stop here (--help, bad arguments).
std::optional<int> parse_options(int argc, const char* const* argv, options& out) {
  std::uint16_t port = 0;
  std::string host = "127.0.0.1";
  std::optional<unsigned> threads;
  std::string backend = "auto";
  demo::args cli("echo_server",
                 "Echoes every byte it receives back to the sender. A corio demo: one coroutine\n"
                 "per connection, spawned into a scope. Stop it with Ctrl-C.");
  cli.integer("port", "P", port, std::uint16_t{0}, std::uint16_t{65535},
              "port to listen on; 0 picks a free one (printed at start)")
      .text("host", "ADDR", host, "address to listen on, IPv4 or IPv6 (::1, 0.0.0.0, ::)")
      .integer("threads", "N", threads, 1u, 1024u, "worker threads")
      .default_text("one per core")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .integer("max-connections", "N", out.max_connections, std::uint64_t{0},
               std::uint64_t{1} << 40,
               "exit 0 once N connections were accepted and have finished; 0 = serve forever")
      .seconds("idle-timeout", out.idle_timeout, 86400.0,
               "close a connection that sends nothing, or takes nothing of what is echoed, "
               "for this long",
               "never")
      .seconds("grace", out.grace, 3600.0,
               "on SIGINT/SIGTERM, how long open connections may go on before they are "
               "cancelled (the server then exits 0; a second signal ends the grace at once)",
               "cancel them at once")
      .flag("reuse-port", out.reuse_port,
            "SO_REUSEPORT (Linux): several servers share one port, the kernel spreads the "
            "connections over them; start the first on --port 0, the others on the port it got")
      .flag("tls", out.tls, "speak TLS (needs --tls-cert and --tls-key)")
      .text("tls-cert", "FILE", out.tls_cert, "with --tls: the certificate chain (PEM, leaf first)")
      .text("tls-key", "FILE", out.tls_key, "with --tls: the certificate's private key (PEM)");
  demo::add_admin_options(cli, out.admin);
  if (auto code = cli.parse(argc, argv)) return code;
  if (out.tls && (out.tls_cert.empty() || out.tls_key.empty()))
    return cli.fail("--tls needs --tls-cert and --tls-key");
  if (!out.tls && (!out.tls_cert.empty() || !out.tls_key.empty()))
    return cli.fail("--tls-cert and --tls-key need --tls");

  auto at = demo::listen_address(host, port);
  if (!at) return cli.fail("--host: '" + host + "' is not an IPv4 or IPv6 address");
  out.address = *at;
  out.runtime.threads = threads.value_or(0);
  out.runtime.backend = *corio::parse_backend_kind(backend);  // choice() checked the name
  out.admin.apply(out.runtime);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse_options(argc, argv, opt)) return *code;
  std::optional<corio::tls::context> tls;
  if (opt.tls) {
    tls = demo::server_tls("echo_server", opt.tls_cert, opt.tls_key);
    if (!tls) return 1;
    tls_context = &*tls;
  }
  demo::raise_descriptor_limit();
  auto server = demo::start_server("echo_server", opt.address, opt.runtime,
                                   {.reuse_port = opt.reuse_port});
  if (!server) return 1;
  auto admin = demo::start_admin("echo_server", server->rt, opt.admin);
  if (!admin) return 1;
  server->rt.block_on(run_until_signal(server->listener, opt.max_connections, opt.idle_timeout,
                                       opt.tls ? echo_tls : echo, opt.grace));
  return 0;
}
