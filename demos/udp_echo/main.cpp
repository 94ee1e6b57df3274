// demos/udp_echo/main.cpp: a UDP echo server, and a client that sends N
// datagrams through it with at most --window unanswered, counts the ones
// that never come back (each gets --timeout), and reports datagrams/s and
// latency percentiles.
//
//   udp_echo --server --port 0
//   udp_echo listening on 127.0.0.1:41234 (backend uring, 1 threads)
//   udp_echo --host localhost --port 41234 --count 100000 --size 512 --mixed
//
// Each datagram carries its sequence number and its send time (16 bytes,
// so --size is at least 16); with --mixed the sizes vary from 16 to --size.
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/args.hpp"
#include "common/histogram.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "corio/corio.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_datagram = 65'507;  // the most a UDP/IPv4 datagram carries
constexpr std::size_t header = 16;           // sequence number, send time

// ---- The server ------------------------------------------------------------

// Echoes every datagram back to its sender until `stop` (or `limit`
// datagrams, 0 = no limit). A datagram larger than the buffer cannot be
// one this demo's client sent: it is counted and dropped.
corio::task<void> serve(corio::net::udp_socket& sock, std::uint64_t limit, std::stop_token stop) {
  std::vector<std::byte> buf(max_datagram);
  std::uint64_t echoed = 0, truncated = 0, failed = 0;
  while (limit == 0 || echoed < limit) {
    auto d = co_await corio::with_stop(sock.recv_from(buf), stop);
    if (!d) {
      if (d.error() == std::errc::operation_canceled) break;
      if (d.error() == std::errc::message_size) {
        ++truncated;
        continue;
      }
      // An ICMP error or a transient shortage: about one datagram, not the socket.
      ++failed;
      continue;
    }
    auto w = co_await corio::with_stop(sock.send_to(std::span(buf).first(d->size), d->from), stop);
    if (!w) {
      if (w.error() == std::errc::operation_canceled) break;
      ++failed;
      continue;
    }
    ++echoed;
  }
  fmt::print("udp_echo: echoed {} datagrams ({} too large, {} failed)\n", echoed, truncated, failed);
}

corio::task<void> run_server(corio::net::udp_socket& sock, std::uint64_t limit) {
  std::stop_source stop, done;
  corio::scope s;
  s.spawn_local([](corio::net::udp_socket& socket, std::uint64_t max, std::stop_source& stopping,
                   std::stop_source& served) -> corio::task<void> {
    co_await serve(socket, max, stopping.get_token());
    served.request_stop();  // ends the signal wait when --max-datagrams was reached
  }(sock, limit, stop, done));
  s.spawn_local([](std::stop_source& stopping, std::stop_token served) -> corio::task<void> {
    auto sig = co_await corio::ctrl_c(served);
    if (!sig) co_return;
    fmt::print(stderr, "udp_echo: {}; stopping\n",
               *sig == corio::shutdown_signal::interrupt ? "interrupted" : "terminated");
    stopping.request_stop();
  }(stop, done.get_token()));
  co_await s.join();
}

// ---- The client ------------------------------------------------------------

struct client_options {
  corio::net::endpoint target;
  std::uint64_t count = 10'000;
  std::size_t size = 64;
  bool mixed = false;
  unsigned window = 32;
  std::chrono::milliseconds timeout{1000};
};

struct client_result {
  std::uint64_t sent = 0, received = 0, lost = 0, late = 0, errors = 0;
  std::string first_error;
  double seconds = 0;
  demo::histogram<std::uint64_t> latency;
};

// The size of datagram `seq`: --size, or with --mixed a spread from 16 to
// --size (a fixed sequence, so runs compare).
std::size_t size_of(const client_options& o, std::uint64_t seq) {
  if (!o.mixed || o.size == header) return o.size;
  return header + (seq * 2654435761u) % (o.size - header + 1);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
      .count();
}

// Sends o.count datagrams with at most o.window unanswered. A datagram
// unanswered for o.timeout is lost; its answer, if it comes later, is late.
corio::task<void> run_client(corio::net::udp_socket& sock, const client_options& o,
                             client_result& r) {
  enum : std::uint8_t { pending, answered, lost };
  std::vector<std::uint8_t> state(o.count, pending);
  std::vector<std::int64_t> sent_at(o.count, 0);
  std::vector<std::byte> out(o.size), in(max_datagram);
  std::uint64_t oldest = 0;  // every datagram before it is answered or lost
  bool refused = false;
  std::stop_source interrupted;
  corio::scope watch;
  watch.spawn_local([](std::stop_source& stopping) -> corio::task<void> {
    if (co_await corio::ctrl_c(stopping.get_token())) {
      fmt::print(stderr, "udp_echo: interrupted; summary of what was sent\n");
      stopping.request_stop();
    }
  }(interrupted));
  const std::stop_token stop = interrupted.get_token();
  const auto start = clock_type::now();
  auto last_progress = start;
  auto error = [&](const std::error_code& ec) {
    if (r.errors++ == 0) r.first_error = ec.message();
  };
  while (oldest < o.count && !stop.stop_requested()) {
    // Fill the window.
    while (r.sent < o.count && r.sent - oldest < o.window) {
      const std::uint64_t seq = r.sent++;
      const std::size_t n = size_of(o, seq);
      sent_at[seq] = now_ns();
      std::memcpy(out.data(), &seq, 8);
      std::memcpy(out.data() + 8, &sent_at[seq], 8);
      auto w = co_await corio::with_stop(sock.send(std::span(out).first(n)), stop);
      if (!w) {
        if (w.error() == std::errc::operation_canceled) break;
        error(w.error());
        state[seq] = lost;  // never sent: an error, not a loss; nothing to wait for
        // Nobody listens there (an earlier datagram's ICMP answer): stop.
        if (w.error() == std::errc::connection_refused) refused = true;
      }
    }
    if (refused) break;
    while (oldest < r.sent && state[oldest] != pending) ++oldest;
    if (oldest == r.sent) continue;  // every datagram sent so far failed
    // Wait for an answer, no longer than the oldest datagram has left.
    const auto left = std::chrono::nanoseconds(sent_at[oldest] + o.timeout.count() * 1'000'000 - now_ns());
    auto d = left.count() > 0
                 ? co_await corio::with_stop(corio::with_timeout(sock.recv(in), left), stop)
                 : corio::result<std::size_t>(corio::fail(std::errc::timed_out));
    if (d && *d >= header) {
      std::uint64_t seq;
      std::int64_t stamp;
      std::memcpy(&seq, in.data(), 8);
      std::memcpy(&stamp, in.data() + 8, 8);
      if (seq < r.sent && stamp == sent_at[seq] && *d == size_of(o, seq)) {
        if (state[seq] == pending) {
          state[seq] = answered;
          ++r.received;
          r.latency.record(static_cast<std::uint64_t>(now_ns() - stamp));
        } else if (state[seq] == lost) {
          ++r.late;
        }
      } else {
        error(std::make_error_code(std::errc::bad_message));
      }
    } else if (d) {
      error(std::make_error_code(std::errc::bad_message));
    } else if (d.error() == std::errc::timed_out) {
      state[oldest] = lost;
      ++r.lost;
    } else if (d.error() != std::errc::operation_canceled) {
      error(d.error());  // connection_refused: nothing listens there
      if (d.error() == std::errc::connection_refused) break;
    }
    while (oldest < r.sent && state[oldest] != pending) ++oldest;
    if (const auto now = clock_type::now(); now - last_progress >= 1s) {
      last_progress = now;
      fmt::print(stderr, "udp_echo: {} sent, {} answered, {} lost\n", r.sent, r.received, r.lost);
    }
  }
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  interrupted.request_stop();  // ends the Ctrl-C watch
  co_await watch.join();
}

// A socket connected to `to`.
corio::result<corio::net::udp_socket> open_to(const corio::net::endpoint& to) {
  auto sock = corio::net::udp_socket::open(to.af());
  if (!sock) return sock;
  if (auto c = sock->connect(to); !c) return corio::fail(c.error());
  return sock;
}

// UDP has no handshake to tell which of a name's addresses has a server
// ("localhost" is often ::1 first, and a server on 127.0.0.1 only): with
// several, a probe datagram goes to each in turn, and the first to answer
// within a second is the target. With one, it is the target.
corio::task<std::optional<corio::net::endpoint>> pick_target(
    const std::vector<corio::net::endpoint>& targets) {
  if (targets.size() == 1) co_return targets.front();
  for (const auto& to : targets) {
    auto sock = open_to(to);
    if (!sock) continue;
    std::array<std::byte, header> probe{};
    std::memset(probe.data(), 0xff, header);  // a sequence number no run uses
    if (!co_await sock->send(probe)) continue;
    std::array<std::byte, header> back;
    if (auto d = co_await corio::with_timeout(sock->recv(back), 1s); d && *d == header)
      co_return to;
  }
  co_return std::nullopt;
}

int client_main(client_options o, const std::vector<corio::net::endpoint>& targets,
                const corio::runtime_options& ro) {
  auto rt = demo::start_runtime("udp_echo", ro);
  if (!rt) return 1;
  auto picked = rt->block_on(pick_target(targets));
  if (!picked) {
    fmt::print(stderr, "udp_echo: none of the {} addresses of --host answered a probe\n",
               targets.size());
    return 1;
  }
  o.target = *picked;
  auto sock = open_to(o.target);
  if (!sock) {
    fmt::print(stderr, "udp_echo: cannot open a socket to {}: {}\n", o.target.to_string(),
               sock.error().message());
    return 1;
  }
  // Room for a full window of the largest datagrams, both ways.
  (void)sock->set_receive_buffer_size(std::max<std::size_t>(o.window * (o.size + 64), 256 * 1024));
  auto r = std::make_unique<client_result>();
  rt->block_on(run_client(*sock, o, *r));
  const double rate = r->seconds > 0 ? static_cast<double>(r->received) / r->seconds : 0;
  const auto q = [&](double p) { return r->latency.quantile(p) / 1000.0; };
  fmt::print("udp_echo: {} datagrams to {}, {} B{}, window {}, timeout {} ms\n", r->sent,
             o.target.to_string(), o.size, o.mixed ? " (mixed sizes from 16)" : "", o.window,
             o.timeout.count());
  fmt::print("  answered     {} (lost {}, late {})\n", r->received, r->lost, r->late);
  fmt::print("  duration     {:.3f} s ({:.0f} datagrams/s answered)\n", r->seconds, rate);
  fmt::print("  latency µs   p50 {:.1f}   p90 {:.1f}   p99 {:.1f}   p99.9 {:.1f}   max {:.1f}\n",
             q(0.5), q(0.9), q(0.99), q(0.999), static_cast<double>(r->latency.max()) / 1000.0);
  fmt::print("  errors       {}{}\n", r->errors, r->errors ? " (first: " + r->first_error + ")" : "");
  fmt::print("RESULT datagrams={} received={} lost={} late={} errors={} seconds={:.3f} "
             "dgrams_per_s={:.1f} p50_us={:.1f} p99_us={:.1f} p999_us={:.1f}\n",
             r->sent, r->received, r->lost, r->late, r->errors, r->seconds, rate, q(0.5), q(0.99),
             q(0.999));
  return r->errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool server = false;
  std::uint16_t port = 0;
  std::string host = "127.0.0.1";
  std::optional<unsigned> threads;
  std::string backend = "auto";
  std::uint64_t max_datagrams = 0;
  client_options o;
  double timeout_seconds = 1;
  demo::args cli("udp_echo",
                 "With --server, echoes every UDP datagram back to its sender (Ctrl-C stops it).\n"
                 "Otherwise sends --count datagrams to --host:--port with at most --window\n"
                 "unanswered, counts those unanswered after --timeout as lost, and prints\n"
                 "datagrams/s, latency percentiles and a 'RESULT ...' line for scripts.\n"
                 "Exit code: 0 ok (losses are reported, not errors), 1 errors, 2 bad arguments.");
  cli.flag("server", server, "run the echo server")
      .text("host", "NAME", host,
            "server: address to listen on (IPv4 or IPv6); client: server name or address "
            "(a name is resolved once; of several addresses, the first to answer a probe is used)")
      .integer("port", "P", port, std::uint16_t{0}, std::uint16_t{65535},
               "server: port to listen on (0 picks one, printed); client: the server's port")
      .integer("threads", "N", threads, 1u, 1024u, "worker threads")
      .default_text("1")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .integer("max-datagrams", "N", max_datagrams, std::uint64_t{0}, std::uint64_t{1} << 50,
               "server: exit 0 after echoing N datagrams; 0 = serve until Ctrl-C")
      .integer("count", "N", o.count, std::uint64_t{1}, std::uint64_t{1} << 32,
               "client: datagrams to send")
      .integer("size", "BYTES", o.size, header, max_datagram,
               "client: bytes per datagram (at least 16: sequence number and send time)")
      .flag("mixed", o.mixed, "client: sizes spread from 16 to --size")
      .integer("window", "W", o.window, 1u, 65'536u, "client: datagrams unanswered at most")
      .number("timeout", "SECONDS", timeout_seconds, 0.001, 60,
              "client: a datagram unanswered this long is lost");
  if (auto code = cli.parse(argc, argv)) return *code;
  corio::runtime_options ro;
  ro.threads = threads.value_or(1);
  ro.backend = *corio::parse_backend_kind(backend);  // choice() checked the name
  if (server) {
    auto at = demo::listen_address(host, port);
    if (!at) return cli.fail("--host: '" + host + "' is not an IPv4 or IPv6 address");
    auto rt = demo::start_runtime("udp_echo", ro);
    if (!rt) return 1;
    auto sock = corio::net::udp_socket::bind(*at);
    if (!sock) {
      fmt::print(stderr, "udp_echo: cannot bind {}: {}\n", at->to_string(), sock.error().message());
      return 1;
    }
    (void)sock->set_receive_buffer_size(1 << 20);
    auto bound = sock->local_endpoint();
    fmt::print("udp_echo listening on {} (backend {}, {} threads)\n",
               bound ? bound->to_string() : at->to_string(), corio::to_string(rt->backend()),
               rt->threads());
    std::fflush(stdout);
    rt->block_on(run_server(*sock, max_datagrams));
    return 0;
  }
  if (port == 0) return cli.fail("--port: the client needs the server's port");
  auto targets = demo::resolve_host("udp_echo", host, port, ro.backend);
  if (!targets) return 1;
  o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_seconds * 1000));
  return client_main(o, *targets, ro);
}
