// demos/echo_client/main.cpp: a closed-loop load generator for echo_server.
//
// Each connection writes `--pipeline` messages, reads them all back, checks
// every byte against what it sent and starts again, until `--duration` or
// `--messages` runs out. Latency (write start to full echo) goes into a
// per-connection histogram, merged at the end. `--idle N` instead opens N
// connections, pings each once, holds them for `--duration` and counts the
// ones that still answer; towards a 127.x server it spreads them over the
// source addresses 127.0.0.1, 127.0.0.2, ... (see connections_per_source),
// so that no source address runs short of ephemeral ports.
//
//   echo_client --port 41234 --connections 64 --duration 3
//   ...
//   RESULT msgs=1234567 seconds=3.000 msgs_per_s=411522.3 p50_us=150.1 ...
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/args.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "common/histogram.hpp"
#include "corio/corio.hpp"
#include "corio/tls/stream.hpp"

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>

#include <fstream>
#endif

namespace {

using corio::clock;
using namespace std::chrono_literals;

// ---- Options ----------------------------------------------------------------

struct options {
  corio::net::endpoint target;
  corio::runtime_options runtime;
  unsigned connections = 64;
  std::size_t size = 64;
  double duration = 5;
  std::uint64_t messages = std::numeric_limits<std::uint64_t>::max();  // per connection
  unsigned pipeline = 1;
  double warmup = 0;
  unsigned idle = 0;  // 0: load mode
  double timeout = 5;
  // --idle: connection i connects from sources[i % size()]; empty: the OS
  // picks the source address.
  std::vector<corio::net::endpoint> sources;
  // --tls: TLS over every connection, verified against --tls-ca (or the
  // system's roots) for --tls-name, unless --tls-insecure.
  bool tls = false;
  bool tls_insecure = false;
  bool tls_no_resume = false;
  std::string tls_ca;
  std::string tls_name;
  // --reconnect: a new connection (and handshake) for every batch.
  bool reconnect = false;
};

// Connections per source address in idle mode, at most. On Linux the real
// bound is lower (source_budget): connect() looks for a free port among the
// range's ports of one parity first and scans all of them before it tries
// the others, so once one source address holds half the range towards one
// server, every further connect scans ~14,000 ports. Measured with 28,232
// ports (Linux 6.18, 2 cores): 5,000 connects/s per source up to 14,000,
// then 120/s.
constexpr unsigned connections_per_source = 20'000;

// The address `n` after `a` (port 0): 127.0.0.1 + 2 = 127.0.0.3.
corio::net::endpoint address_after(const corio::net::endpoint& a, unsigned n) {
  auto bytes = a.bytes();
  const std::size_t size = a.is_v4() ? 4 : 16;
  std::uint64_t carry = n;
  for (std::size_t i = size; i-- > 0 && carry != 0;) {
    carry += bytes[i];
    bytes[i] = static_cast<std::uint8_t>(carry & 0xff);
    carry >>= 8;
  }
  if (a.is_v4()) return corio::net::endpoint::v4({bytes[0], bytes[1], bytes[2], bytes[3]}, 0);
  return corio::net::endpoint::v6(bytes, 0, a.scope_id());
}

#if defined(__linux__)
// How many source ports a client may use towards one server address.
std::optional<unsigned> ephemeral_ports() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned lo = 0, hi = 0;
  if (f >> lo >> hi && hi >= lo) return hi - lo + 1;
  return std::nullopt;
}
#endif

// How many connections one source address takes towards one server: 40% of
// the ephemeral range (80% of the half that connect() tries first, which
// keeps its scan for a free port short), at most connections_per_source.
unsigned source_budget() {
#if defined(__linux__)
  if (auto ports = ephemeral_ports(); ports && *ports * 2 / 5 < connections_per_source)
    return std::max(1u, *ports * 2 / 5);
#endif
  return connections_per_source;
}

std::optional<int> parse_options(int argc, const char* const* argv, options& out) {
  std::optional<std::uint16_t> port;
  std::string host = "127.0.0.1";
  std::optional<unsigned> threads, connections, pipeline, idle;
  std::optional<std::uint64_t> messages;
  std::optional<double> warmup;
  std::string backend = "auto";
  std::string source;
  demo::args cli("echo_client",
                 "A closed-loop load generator for echo_server: each connection sends --pipeline\n"
                 "messages, reads them back, verifies every byte and repeats, for --duration\n"
                 "seconds or --messages messages, whichever ends first. Prints messages/s and\n"
                 "latency percentiles, then a 'RESULT ...' line for scripts. With --idle N it\n"
                 "opens N connections instead, pings each once, holds them for --duration and\n"
                 "reports how many survived, spreading them over several source addresses\n"
                 "(see --source). Exit code: 0 ok, 1 errors, 2 bad arguments.");
  cli.integer("port", "P", port, std::uint16_t{1}, std::uint16_t{65535}, "server port")
      .required()
      .text("host", "NAME", host, "server name or address, IPv4 or IPv6 (::1); a name is "
            "resolved once, at start, and its first address used")
      .integer("connections", "N", connections, 1u, 1'000'000u, "concurrent connections")
      .default_text("64")
      .integer("size", "BYTES", out.size, std::size_t{1}, std::size_t{16} << 20,
               "bytes per message")
      .number("duration", "SECONDS", out.duration, 0.001, 3600,
              "how long to measure (after --warmup); with --idle, how long to hold")
      .integer("messages", "M", messages, std::uint64_t{1}, std::uint64_t{1} << 50,
               "stop each connection after M messages (or at --duration, if sooner)")
      .integer("pipeline", "K", pipeline, 1u, 4096u,
               "messages in flight per connection: write K, then read K")
      .default_text("1")
      .number("warmup", "SECONDS", warmup, 0, 3600,
              "run this long first, without counting it in the figures")
      .default_text("0")
      .integer("idle", "N", idle, 1u, 1'000'000u,
               "hold N idle connections instead of generating load")
      .text("source", "ADDR", source,
            "with --idle: connect from ADDR and the addresses after it, as many as N needs "
            "(at most 20000 connections each; on Linux 40% of the ephemeral port range)")
      .default_text("127.0.0.1 towards a 127.x host, else the OS picks")
      .number("timeout", "SECONDS", out.timeout, 0.1, 3600,
              "give up when nothing has moved for this long (connecting, awaiting echoes)")
      .integer("threads", "N", threads, 1u, 1024u, "worker threads")
      .default_text("one per core")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .flag("tls", out.tls, "speak TLS (the server runs with --tls)")
      .text("tls-ca", "FILE", out.tls_ca, "with --tls: trust the certificates in FILE (PEM)")
      .default_text("the system's roots")
      .text("tls-name", "NAME", out.tls_name,
            "with --tls: the server name to send (SNI) and verify")
      .default_text("--host")
      .flag("tls-insecure", out.tls_insecure,
            "with --tls: accept any certificate (measurements only)")
      .flag("tls-no-resume", out.tls_no_resume,
            "with --tls: full handshakes only, no session resumption")
      .flag("reconnect", out.reconnect,
            "open a new connection (and, with --tls, a new handshake) for every batch of "
            "--pipeline messages: measures connection setup");
  if (auto code = cli.parse(argc, argv)) return code;
  if (!out.tls && (out.tls_insecure || out.tls_no_resume || !out.tls_ca.empty() ||
                   !out.tls_name.empty()))
    return cli.fail("--tls-ca, --tls-name, --tls-insecure and --tls-no-resume need --tls");
  if (out.tls_name.empty()) out.tls_name = host;

  out.runtime.threads = threads.value_or(0);
  out.runtime.backend = *corio::parse_backend_kind(backend);  // choice() checked the name
  // A name is resolved once, here; every connection uses its first address.
  auto targets = demo::resolve_host("echo_client", host, *port, out.runtime.backend);
  if (!targets) return 1;
  out.target = targets->front();
  out.connections = connections.value_or(out.connections);
  out.pipeline = pipeline.value_or(out.pipeline);
  out.messages = messages.value_or(out.messages);
  out.warmup = warmup.value_or(out.warmup);

  if (idle) {
    if (connections || pipeline || messages || warmup)
      return cli.fail(
          "--idle cannot be combined with --connections, --pipeline, --messages or --warmup");
    out.idle = *idle;
    const unsigned per_source = source_budget();
    std::optional<corio::net::endpoint> first;
    if (!source.empty()) {
      auto from = corio::net::endpoint::parse(source, 0);
      if (!from) return cli.fail("--source: '" + source + "' is not an IPv4 or IPv6 address");
      if (from->af() != out.target.af())
        return cli.fail("--source and --host must both be IPv4 or both IPv6");
      first = *from;
    } else if (out.target.is_v4() && out.target.bytes()[0] == 127 && out.idle > per_source) {
      // Every 127.x address is local on Linux; where one is not, its
      // connects fail with address_not_available and the run says so.
      first = corio::net::endpoint::loopback_v4(0);
    }
    if (first) {
      const unsigned k = (out.idle + per_source - 1) / per_source;
      for (unsigned j = 0; j < k; ++j) out.sources.push_back(address_after(*first, j));
    }
  } else if (!source.empty()) {
    return cli.fail("--source works with --idle only");
  }
  const double buffers = 2.0 * out.connections * out.pipeline * static_cast<double>(out.size);
  if (buffers > 8.0 * (1ull << 30))
    return cli.fail(
        fmt::format("--connections x --pipeline x --size needs {:.1f} GiB of buffers (at most 8)",
                    buffers / (1ull << 30)));
  return std::nullopt;
}


bool stderr_is_tty() {
#if defined(_WIN32)
  return _isatty(_fileno(stderr)) != 0;
#else
  return isatty(fileno(stderr)) != 0;
#endif
}

// ---- What a run shares between its connections and the main thread --------

enum class phase : int { starting, running, opening, holding, checking };

struct alignas(64) connection_stats {
  // Written by the connection's coroutine only; read by the progress line.
  std::atomic<std::uint64_t> echoed{0};    // all verified messages, warmup included
  std::atomic<std::uint64_t> measured{0};  // those that started after the warmup
  // Read only after the run has been joined.
  clock::time_point last_echo{};
  demo::histogram<std::uint32_t> latency;  // of the measured messages
};

enum class error_kind { connect, io, verify };

// Errors are rare: counted in shared atomics, the first of each kind kept.
class error_log {
 public:
  void note(error_kind k, std::string what) {
    count(k).fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    auto& first = first_[static_cast<int>(k)];
    if (first.empty()) first = std::move(what);
  }
  std::atomic<std::uint64_t>& count(error_kind k) { return counts_[static_cast<int>(k)]; }
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }
  std::string first(error_kind k) {
    std::lock_guard lock(mu_);
    return first_[static_cast<int>(k)];
  }

 private:
  std::atomic<std::uint64_t> counts_[3] = {};
  std::mutex mu_;
  std::string first_[3];
};

struct run_state {
  options opt;
  std::optional<corio::tls::context> tls;  // --tls
  std::atomic<phase> now{phase::starting};
  // Set before `now` becomes running (release), read after (acquire).
  clock::time_point measure_from{}, stop_at{};
  std::vector<connection_stats> conns;  // load mode
  std::atomic<std::uint64_t> connected{0};
  error_log errors;
  // --idle
  std::atomic<std::uint64_t> opened{0}, checked{0}, survived{0};
  clock::time_point hold_until{};
  double open_seconds = 0;  // from the first connect to the last ping answered
};

// ---- Messages ----------------------------------------------------------------

// Fills `out` with bytes that depend on the connection and the message's
// sequence number, so a byte echoed on the wrong connection, out of order
// or twice fails verification. xorshift64: cheap, and no two nearby seeds
// give the same stream.
void fill_pattern(std::span<std::byte> out, std::uint32_t conn, std::uint64_t seq) noexcept {
  std::uint64_t x =
      (std::uint64_t{conn} << 40) ^ (seq * 0x9E3779B97F4A7C15ull) ^ 0x2545F4914F6CDD1Dull;
  x |= 1;
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, 8);
  }
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  std::memcpy(out.data() + i, &x, out.size() - i);
}

// The offset of the first byte where `got` differs from `want`.
std::size_t first_difference(std::span<const std::byte> got, std::span<const std::byte> want) {
  return static_cast<std::size_t>(std::ranges::mismatch(got, want).in1 - got.begin());
}

std::string describe(const corio::net::endpoint& at, std::string_view what, std::error_code ec) {
  return fmt::format("{} {}: {}", what, at.to_string(), ec.message());
}

// ---- Load mode ----------------------------------------------------------------

// Bytes written and not yet read back are kept under this, so that neither
// side can block on a full socket buffer while the other waits for it
// (the server writes back before it reads again).
constexpr std::size_t window = 32 * 1024;

// One connection's closed loop: write a batch of messages (at most `window`
// bytes ahead of what came back), read them back, verify, repeat. Allocates
// its buffers once; nothing per message.
// What one connection loop keeps from one connection to the next.
struct loop_state {
  std::vector<std::byte> out, in;
  std::vector<clock::time_point> started;
  std::uint64_t seq = 0, echoed = 0, measured = 0;
};

// Runs batches on `conn` until the end of the run (one batch with
// --reconnect); false after an error.
template <class Stream>
corio::task<bool> exchange(run_state& run, std::uint32_t id, Stream& conn, loop_state& ls) {
  const options& opt = run.opt;
  connection_stats& st = run.conns[id];
  const std::size_t size = opt.size;
  auto& [out, in, started, seq, echoed, measured] = ls;
  while (seq < opt.messages && clock::now() < run.stop_at) {
    const auto k =
        static_cast<std::size_t>(std::min<std::uint64_t>(opt.pipeline, opt.messages - seq));
    const std::size_t total = k * size;
    for (std::size_t j = 0; j < k; ++j)
      fill_pattern(std::span(out).subspan(j * size, size), id, seq + j);
    std::size_t sent = 0, got = 0, timed = 0, done = 0;  // bytes, bytes, messages, messages
    while (done < k) {
      if (sent < total && sent - got < window) {
        const std::size_t n = std::min(total - sent, window - (sent - got));
        const auto now = clock::now();  // each message's clock starts with its first byte
        for (; timed < k && timed * size < sent + n; ++timed) started[timed] = now;
        auto w = co_await conn.write(std::span(out).subspan(sent, n));
        if (!w) {
          run.errors.note(error_kind::io, describe(opt.target, "write to", w.error()));
          co_return false;
        }
        sent += *w;
        continue;
      }
      auto r = co_await conn.read(std::span(in).subspan(got, sent - got));
      if (!r || *r == 0) {
        run.errors.note(error_kind::io,
                        r ? fmt::format("read from {}: the server closed the connection",
                                        opt.target.to_string())
                          : describe(opt.target, "read from", r.error()));
        co_return false;
      }
      got += *r;
      const auto now = clock::now();
      for (; done < k && (done + 1) * size <= got; ++done) {
        auto want = std::span(out).subspan(done * size, size);
        auto back = std::span(in).subspan(done * size, size);
        if (!std::ranges::equal(back, want)) {
          run.errors.note(
              error_kind::verify,
              fmt::format("connection {} message {}: echoed bytes differ (first at byte {})", id,
                          seq + done, first_difference(back, want)));
        }
        ++echoed;
        if (started[done] >= run.measure_from) {
          st.latency.record(static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(now - started[done]).count()));
          st.last_echo = now;
          ++measured;
        }
      }
    }
    seq += k;
    st.echoed.store(echoed, std::memory_order_relaxed);
    st.measured.store(measured, std::memory_order_relaxed);
    if (opt.reconnect) break;
  }
  co_return true;
}

// One connection's loop: connect (and handshake), exchange, and with
// --reconnect close and do it all again until the run ends.
corio::task<void> ping_pong(run_state& run, std::uint32_t id) {
  const options& opt = run.opt;
  loop_state ls{std::vector<std::byte>(opt.size * opt.pipeline),
                std::vector<std::byte>(opt.size * opt.pipeline),
                std::vector<clock::time_point>(opt.pipeline)};
  const auto limit =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(opt.timeout));
  bool first = true;
  do {
    auto conn = co_await corio::with_timeout(corio::net::tcp_stream::connect(opt.target), limit);
    if (!conn) {
      run.errors.note(error_kind::connect, describe(opt.target, "cannot connect to", conn.error()));
      co_return;
    }
    (void)conn->set_nodelay(true);
    if (!run.tls) {
      if (first) run.connected.fetch_add(1, std::memory_order_relaxed);
      first = false;
      if (!co_await exchange(run, id, *conn, ls)) co_return;
      continue;
    }
    auto tls = corio::tls::stream<>::client(*run.tls, std::move(*conn), opt.tls_name);
    if (!tls) {
      run.errors.note(error_kind::connect, describe(opt.target, "TLS with", tls.error()));
      co_return;
    }
    if (auto h = co_await corio::with_timeout(tls->handshake(), limit); !h) {
      run.errors.note(error_kind::connect,
                      fmt::format("TLS handshake with {}: {} {}", opt.target.to_string(),
                                  h.error().message(), tls->failure_detail()));
      co_return;
    }
    if (first) run.connected.fetch_add(1, std::memory_order_relaxed);
    first = false;
    if (!co_await exchange(run, id, *tls, ls)) co_return;
    if (opt.reconnect) {
      // An orderly end: close_notify both ways (the server answers ours),
      // which also brings in a TLS 1.3 session ticket for the next round.
      if (!co_await corio::with_timeout(tls->shutdown(), limit)) co_return;
      std::array<std::byte, 256> rest;
      for (;;) {
        auto r = co_await corio::with_timeout(tls->read(rest), limit);
        if (!r || *r == 0) break;
      }
    } else {
      (void)co_await corio::with_timeout(tls->shutdown(), limit);
    }
  } while (opt.reconnect && ls.seq < opt.messages && clock::now() < run.stop_at);
}

corio::task<void> run_load(run_state& run) {
  run.conns = std::vector<connection_stats>(run.opt.connections);
  const auto start = clock::now();
  run.measure_from = start + std::chrono::duration_cast<clock::duration>(
                                 std::chrono::duration<double>(run.opt.warmup));
  run.stop_at = run.measure_from + std::chrono::duration_cast<clock::duration>(
                                       std::chrono::duration<double>(run.opt.duration));
  run.now.store(phase::running, std::memory_order_release);
  corio::scope connections;
  for (std::uint32_t i = 0; i < run.opt.connections; ++i) connections.spawn(ping_pong(run, i));
  co_await connections.join();
}

// ---- Idle mode ------------------------------------------------------------------

// Sends one message and checks its echo.
corio::task<bool> ping(run_state& run, corio::net::tcp_stream& conn, std::uint32_t id,
                       std::uint64_t seq, std::span<std::byte> out, std::span<std::byte> in) {
  fill_pattern(out, id, seq);
  auto w = co_await conn.write_all(out);
  if (!w) {
    run.errors.note(error_kind::io, describe(run.opt.target, "write to", w.error()));
    co_return false;
  }
  auto r = co_await conn.read_exact(in);
  if (!r) {
    run.errors.note(error_kind::io, describe(run.opt.target, "read from", r.error()));
    co_return false;
  }
  if (!std::ranges::equal(in, out)) {
    run.errors.note(error_kind::verify,
                    fmt::format("connection {} message {}: echoed bytes differ", id, seq));
    co_return false;
  }
  co_return true;
}

// One of a few hundred workers that share the connections out by index, so
// that the server's accept queue is never flooded and no coroutine frame is
// kept per idle connection.
corio::task<void> open_some(run_state& run, std::vector<corio::net::tcp_stream>& conns,
                            std::atomic<std::size_t>& next) {
  const auto& sources = run.opt.sources;
  std::vector<std::byte> out(run.opt.size), in(run.opt.size);
  for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < conns.size();) {
    const auto* from = sources.empty() ? nullptr : &sources[i % sources.size()];
    // Not `co_await (from ? connect(to, *from) : connect(to))`: GCC 12
    // destroys the temporary of a conditional co_await operand twice.
    corio::result<corio::net::tcp_stream> conn;
    if (from) {
      conn = co_await corio::net::tcp_stream::connect(run.opt.target, *from);
    } else {
      conn = co_await corio::net::tcp_stream::connect(run.opt.target);
    }
    if (!conn) {
      run.errors.note(
          error_kind::connect,
          from ? fmt::format("cannot connect to {} from {}: {}", run.opt.target.to_string(),
                             from->address_string(), conn.error().message())
               : describe(run.opt.target, "cannot connect to", conn.error()));
      continue;
    }
    run.connected.fetch_add(1, std::memory_order_relaxed);
    if (co_await ping(run, *conn, static_cast<std::uint32_t>(i), 0, out, in)) {
      conns[i] = std::move(*conn);
      run.opened.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

corio::task<void> check_some(run_state& run, std::vector<corio::net::tcp_stream>& conns,
                             std::atomic<std::size_t>& next) {
  std::vector<std::byte> out(run.opt.size), in(run.opt.size);
  for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < conns.size();) {
    if (!conns[i].is_open()) continue;
    if (co_await ping(run, conns[i], static_cast<std::uint32_t>(i), 1, out, in))
      run.survived.fetch_add(1, std::memory_order_relaxed);
    run.checked.fetch_add(1, std::memory_order_relaxed);
  }
}

corio::task<void> run_idle(run_state& run) {
  std::vector<corio::net::tcp_stream> conns(run.opt.idle);
  const std::size_t workers = std::min<std::size_t>(conns.size(), 256);
  corio::scope group;
  std::atomic<std::size_t> next{0};
  run.now.store(phase::opening, std::memory_order_release);
  const auto opening = clock::now();
  for (std::size_t w = 0; w < workers; ++w) group.spawn(open_some(run, conns, next));
  co_await group.join();
  run.open_seconds = std::chrono::duration<double>(clock::now() - opening).count();

  run.hold_until = clock::now() + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(run.opt.duration));
  run.now.store(phase::holding, std::memory_order_release);
  (void)co_await corio::sleep_until(run.hold_until);

  run.now.store(phase::checking, std::memory_order_release);
  next = 0;
  for (std::size_t w = 0; w < workers; ++w) group.spawn(check_some(run, conns, next));
  co_await group.join();
}

// ---- The run ----------------------------------------------------------------------

corio::task<void> run_all(run_state& run) {
  if (run.opt.idle) {
    co_await run_idle(run);
  } else {
    co_await run_load(run);
  }
}

// Something that moves whenever the run makes progress, for the watchdog.
std::uint64_t progress_mark(run_state& run) {
  std::uint64_t n = run.errors.total() + run.connected.load(std::memory_order_relaxed) +
                    run.opened.load(std::memory_order_relaxed) +
                    run.checked.load(std::memory_order_relaxed);
  if (run.now.load(std::memory_order_acquire) == phase::running) {
    for (const auto& c : run.conns) n += c.echoed.load(std::memory_order_relaxed);
  }
  return n;
}

double seconds_since(clock::time_point t, clock::time_point now = clock::now()) {
  return std::chrono::duration<double>(now - t).count();
}

// The line printed once a second while the run goes on.
std::string progress_line(run_state& run, clock::time_point began) {
  const auto now = clock::now();
  const double elapsed = seconds_since(began, now);
  const auto errors = run.errors.total();
  switch (run.now.load(std::memory_order_acquire)) {
    case phase::running: {
      std::uint64_t echoed = 0, measured = 0;
      for (const auto& c : run.conns) {
        echoed += c.echoed.load(std::memory_order_relaxed);
        measured += c.measured.load(std::memory_order_relaxed);
      }
      if (now < run.measure_from)
        return fmt::format("[{:6.1f}s] warming up: {} msgs, {} errors", elapsed, echoed, errors);
      const double measuring = std::max(seconds_since(run.measure_from, now), 1e-9);
      return fmt::format("[{:6.1f}s] {} msgs, {:.0f} msgs/s, {} errors", elapsed, measured,
                         static_cast<double>(measured) / measuring, errors);
    }
    case phase::opening:
      return fmt::format("[{:6.1f}s] opened {}/{} connections, {} errors", elapsed,
                         run.opened.load(std::memory_order_relaxed), run.opt.idle, errors);
    case phase::holding:
      return fmt::format("[{:6.1f}s] holding {} connections, {:.0f} s left, {} errors", elapsed,
                         run.opened.load(std::memory_order_relaxed),
                         std::max(0.0, -seconds_since(run.hold_until, now)), errors);
    case phase::checking:
      return fmt::format("[{:6.1f}s] checked {}/{}, {} survived, {} errors", elapsed,
                         run.checked.load(std::memory_order_relaxed),
                         run.opened.load(std::memory_order_relaxed),
                         run.survived.load(std::memory_order_relaxed), errors);
    default:
      return fmt::format("[{:6.1f}s] connecting to {}", elapsed, run.opt.target.to_string());
  }
}

// Says why the run is stuck and ends the process: an operation that never
// completes cannot be abandoned (corio has no cancellation yet), and its
// frame cannot be freed while the kernel may still write into it.
[[noreturn]] void give_up(run_state& run, bool end_progress_line) {
  if (end_progress_line) fmt::print(stderr, "\n");
  if (run.connected.load() == 0) {
    fmt::print(stderr, "echo_client: cannot connect to {}: no answer within {} s\n",
               run.opt.target.to_string(), run.opt.timeout);
  } else {
    fmt::print(stderr,
               "echo_client: nothing moved for {} s (the server stopped answering?); giving up\n",
               run.opt.timeout);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

void print_errors(run_state& run) {
  static constexpr std::pair<error_kind, const char*> kinds[] = {
      {error_kind::connect, "connect"},
      {error_kind::io, "i/o"},
      {error_kind::verify, "verification"}};
  for (auto [k, name] : kinds) {
    if (auto n = run.errors.count(k).load(); n != 0)
      fmt::print("  {} errors: {}, the first: {}\n", name, n, run.errors.first(k));
  }
}

int report_load(run_state& run, clock::time_point joined, unsigned threads) {
  const options& opt = run.opt;
  demo::histogram<std::uint64_t> latency;
  clock::time_point last = run.measure_from;
  for (const auto& c : run.conns) {
    latency.merge(c.latency);
    last = std::max(last, c.last_echo);
  }
  if (latency.count() == 0) last = std::max(last, joined);
  const std::uint64_t msgs = latency.count();
  const double seconds = seconds_since(run.measure_from, last);
  const double rate = seconds > 0 ? static_cast<double>(msgs) / seconds : 0;
  const auto us = [&](double q) { return latency.quantile(q) / 1000; };
  const auto errors = run.errors.total();

  fmt::print(
      "echo_client: {} connections to {}, {}-byte messages, pipeline {} (backend {}, {} threads)\n",
      opt.connections, opt.target.to_string(), opt.size, opt.pipeline,
      corio::to_string(opt.runtime.backend), threads);
  fmt::print("  connected    {} of {}\n", run.connected.load(), opt.connections);
  fmt::print("  duration     {:.3f} s measured{}\n", seconds,
             opt.warmup > 0 ? fmt::format(", after {} s of warmup", opt.warmup) : "");
  fmt::print("  messages     {} ({:.0f} msgs/s, {:.2f} MB/s each way)\n", msgs, rate,
             rate * static_cast<double>(opt.size) / 1e6);
  fmt::print("  latency µs   p50 {:.1f}   p90 {:.1f}   p99 {:.1f}   p99.9 {:.1f}   max {:.1f}\n",
             us(0.5), us(0.9), us(0.99), us(0.999), static_cast<double>(latency.max()) / 1000);
  fmt::print("  errors       {}\n", errors);
  print_errors(run);
  fmt::print(
      "RESULT msgs={} seconds={:.3f} msgs_per_s={:.1f} p50_us={:.1f} p99_us={:.1f} p999_us={:.1f} "
      "errors={}\n",
      msgs, seconds, rate, us(0.5), us(0.99), us(0.999), errors);
  return errors == 0 ? 0 : 1;
}

int report_idle(run_state& run) {
  const auto survived = run.survived.load();
  const auto errors = run.errors.total();
  const auto& sources = run.opt.sources;
  const std::string from = sources.empty() ? ""
                           : sources.size() == 1
                               ? fmt::format(" from {}", sources.front().address_string())
                               : fmt::format(" from {} to {}", sources.front().address_string(),
                                             sources.back().address_string());
  fmt::print("echo_client: {} idle connections to {}{}, held {} s\n", run.opt.idle,
             run.opt.target.to_string(), from, run.opt.duration);
  fmt::print("  opened       {} in {:.3f} s\n  survived     {}\n  errors       {}\n",
             run.opened.load(), run.open_seconds, survived, errors);
  print_errors(run);
  fmt::print("RESULT idle_connections={} survived={} open_seconds={:.3f}\n", run.opt.idle, survived,
             run.open_seconds);
  return errors == 0 && survived == run.opt.idle ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto run = std::make_unique<run_state>();
  if (auto code = parse_options(argc, argv, run->opt)) return *code;
  const auto fds = demo::raise_descriptor_limit();
  const std::uint64_t wanted = (run->opt.idle ? run->opt.idle : run->opt.connections) + 16ull;
  if (fds < wanted)
    fmt::print(stderr,
               "echo_client: note: the descriptor limit is {}, below the {} this run needs\n", fds,
               wanted);

  if (run->opt.tls) {
    auto ctx = corio::tls::context::create(corio::tls::role::client);
    if (!ctx) {
      fmt::print(stderr, "echo_client: TLS: {}\n", ctx.error().message());
      return 1;
    }
    if (!run->opt.tls_ca.empty()) {
      if (auto r = ctx->trust_file(run->opt.tls_ca.c_str()); !r) {
        fmt::print(stderr, "echo_client: --tls-ca {}: {}\n", run->opt.tls_ca, r.error().message());
        return 1;
      }
    }
    ctx->set_verify_peer(!run->opt.tls_insecure);
    ctx->set_session_resumption(!run->opt.tls_no_resume);
    run->tls = std::move(*ctx);
  }
  auto rt = demo::start_runtime("echo_client", run->opt.runtime);
  if (!rt) return 1;
  run->opt.runtime.backend = rt->backend();

  // The runtime runs the load on its workers; this thread prints the
  // progress line and watches for a run that has stopped moving.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::exception_ptr failure;
  std::thread load([&] {
    try {
      rt->block_on(run_all(*run));
    } catch (...) {
      failure = std::current_exception();
    }
    std::lock_guard lock(mu);
    finished = true;
    cv.notify_one();
  });

  const bool tty = stderr_is_tty();
  const auto began = clock::now();
  const auto timeout =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(run->opt.timeout));
  auto mark = progress_mark(*run);
  auto moved = began;  // when the watchdog last saw progress
  auto next_print = began + 1s;
  bool printed = false;
  for (;;) {
    std::unique_lock lock(mu);
    if (cv.wait_until(lock, std::min(next_print, moved + timeout), [&] { return finished; })) break;
    lock.unlock();
    const auto now = clock::now();
    if (auto m = progress_mark(*run); m != mark || run->now.load() == phase::holding) {
      mark = m;
      moved = now;
    } else if (now - moved >= timeout) {
      give_up(*run, printed && tty);
    }
    if (now >= next_print) {
      next_print += 1s;
      auto line = progress_line(*run, began);
      if (tty) {
        fmt::print(stderr, "\r{:<72}", line);
      } else {
        fmt::print(stderr, "{}\n", line);
      }
      std::fflush(stderr);
      printed = true;
    }
  }
  load.join();
  const auto joined = clock::now();
  if (printed && tty) fmt::print(stderr, "\n");
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      fmt::print(stderr, "echo_client: {}\n", e.what());
    }
    return 1;
  }
  if (run->connected.load() == 0) {  // one clear message, not one per connection
    fmt::print(stderr, "echo_client: {}\n", run->errors.first(error_kind::connect));
    return 1;
  }
  return run->opt.idle ? report_idle(*run) : report_load(*run, joined, rt->threads());
}
