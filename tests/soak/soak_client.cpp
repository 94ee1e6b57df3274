// tests/soak/soak_client.cpp: the client side of scripts/soak.sh. Many
// connections against echo_server or chat_server (which run with faults
// injected), each checking every byte it gets back:
//
//   echo: sessions of random-sized messages; each echo must equal what was
//         sent, byte for byte, until the connection ends (an error or an
//         early EOF: counted, and a new session starts).
//   chat: every client joins one room and sends numbered lines whose text
//         follows from (nick, number); every line received must be whole,
//         match its text, and come in order from each sender with no gap.
//
// A connection that moves nothing for --timeout seconds is stuck: a hang
// in the server. Exit status 0 only with no mismatch, no stuck connection
// and some bytes verified.
//
//   soak_client --mode echo --port 41234 --connections 32 --duration 20
//   SOAK mode=echo sessions=812 verified_bytes=... closed_with_error=5 mismatches=0 stuck=0
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "corio/corio.hpp"

namespace {

using namespace std::chrono_literals;
using corio::clock;

struct options {
  std::string mode = "echo";
  std::uint16_t port = 0;
  unsigned connections = 32;
  double duration = 10;
  double timeout = 10;
  std::uint64_t seed = 1;
};

struct totals {
  std::atomic<std::uint64_t> sessions{0}, verified{0}, closed_with_error{0}, connect_errors{0},
      mismatches{0}, stuck{0};
  std::mutex mu;
  std::string first_problem;
  void problem(std::atomic<std::uint64_t>& counter, std::string what) {
    counter.fetch_add(1);
    std::lock_guard lock(mu);
    if (first_problem.empty()) first_problem = std::move(what);
  }
};

struct run_state {
  options opt;
  clock::time_point end;
  clock::duration timeout;
  totals t;
};

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The byte at `i` of message (key, seq).
std::byte pattern(std::uint64_t key, std::uint64_t seq, std::size_t i) {
  return static_cast<std::byte>(mix(key * 1'000'003 + seq * 65'537 + i / 8) >> (8 * (i % 8)));
}

corio::task<corio::result<corio::net::tcp_stream>> open(run_state& run) {
  auto to = corio::net::endpoint::loopback_v4(run.opt.port);
  auto c = co_await corio::with_timeout(corio::net::tcp_stream::connect(to), run.timeout);
  if (!c) run.t.connect_errors.fetch_add(1);
  co_return c;
}

// ---- echo ------------------------------------------------------------------

corio::task<void> echo_sessions(run_state& run, unsigned id) {
  std::mt19937_64 rng(mix(run.opt.seed ^ id));
  std::vector<std::byte> out(16 * 1024), in(16 * 1024);
  for (std::uint64_t gen = 0; clock::now() < run.end; ++gen) {
    auto conn = co_await open(run);
    if (!conn) {
      co_await corio::sleep_for(10ms);
      continue;
    }
    run.t.sessions.fetch_add(1);
    const std::uint64_t key = (std::uint64_t{id} << 32) | gen;
    const int messages = 1 + static_cast<int>(rng() % 64);
    bool ok = true;
    for (int seq = 0; ok && seq < messages && clock::now() < run.end; ++seq) {
      const std::size_t size = 1 + rng() % out.size();
      for (std::size_t i = 0; i < size; ++i) out[i] = pattern(key, seq, i);
      auto w = co_await corio::with_timeout(conn->write_all(std::span(out).first(size)), run.timeout);
      if (!w) {
        if (w.error() == corio::errc::timed_out) {
          run.t.problem(run.t.stuck, fmt::format("echo conn {}: write stuck", id));
        } else {
          run.t.closed_with_error.fetch_add(1);
        }
        break;
      }
      for (std::size_t got = 0; got < size;) {
        auto n = co_await corio::with_timeout(conn->read(std::span(in).first(size - got)), run.timeout);
        if (!n && n.error() == corio::errc::timed_out) {
          run.t.problem(run.t.stuck, fmt::format("echo conn {}: no echo for {} s ({} of {} bytes)",
                                                 id, run.opt.timeout, got, size));
          ok = false;
          break;
        }
        if (!n || *n == 0) {  // the server ended the connection: allowed, counted
          run.t.closed_with_error.fetch_add(1);
          ok = false;
          break;
        }
        for (std::size_t i = 0; i < *n; ++i) {
          if (in[i] != pattern(key, seq, got + i)) {
            run.t.problem(run.t.mismatches,
                          fmt::format("echo conn {}: byte {} of message {} differs", id, got + i, seq));
            ok = false;
            break;
          }
        }
        if (!ok) break;
        got += *n;
        run.t.verified.fetch_add(*n, std::memory_order_relaxed);
      }
    }
  }
}

// ---- chat ------------------------------------------------------------------

std::string chat_text(std::string_view nick, std::uint64_t seq) {
  const std::uint64_t key = std::hash<std::string_view>{}(nick);
  std::string s = fmt::format("S {} ", seq);
  const std::size_t len = 1 + mix(key ^ seq) % 120;
  for (std::size_t i = 0; i < len; ++i)
    s += static_cast<char>('a' + static_cast<unsigned>(pattern(key, seq, i)) % 26);
  return s;
}

// Reads one line (without its newline) into `line`; false at EOF or error
// (counted), or when stuck (counted as a problem).
corio::task<bool> read_line(run_state& run, corio::net::tcp_stream& conn, std::string& pending,
                            std::string& line, unsigned id) {
  std::array<char, 4096> buf;
  for (;;) {
    if (auto nl = pending.find('\n'); nl != std::string::npos) {
      line.assign(pending, 0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pending.erase(0, nl + 1);
      co_return true;
    }
    auto n = co_await corio::with_timeout(conn.read(buf), run.timeout);
    if (!n && n.error() == corio::errc::timed_out) {
      run.t.problem(run.t.stuck, fmt::format("chat conn {}: nothing for {} s", id, run.opt.timeout));
      co_return false;
    }
    if (!n || *n == 0) {
      run.t.closed_with_error.fetch_add(1);
      co_return false;
    }
    pending.append(buf.data(), *n);
  }
}

corio::task<void> chat_sessions(run_state& run, unsigned id) {
  std::mt19937_64 rng(mix(run.opt.seed ^ id));
  for (std::uint64_t gen = 0; clock::now() < run.end; ++gen) {
    auto conn = co_await open(run);
    if (!conn) {
      co_await corio::sleep_for(10ms);
      continue;
    }
    run.t.sessions.fetch_add(1);
    const std::string nick = fmt::format("c{}g{}", id, gen);
    std::string pending, line;
    if (!(co_await conn->write_all(std::string_view(fmt::format("/nick {}\n/join soak\n", nick)))))
      continue;
    // Per sender: the next number expected from it.
    std::map<std::string, std::uint64_t, std::less<>> next;
    const std::uint64_t lines = 1 + rng() % 200;
    std::uint64_t sent = 0, echoed = 0;
    bool ok = true, joined = false;
    while (ok && echoed < lines && clock::now() < run.end) {
      if (joined && sent == echoed) {
        const std::string text = chat_text(nick, sent) + "\n";
        if (!(co_await conn->write_all(std::string_view(text)))) {
          run.t.closed_with_error.fetch_add(1);
          break;
        }
        ++sent;
      }
      if (!co_await read_line(run, *conn, pending, line, id)) break;
      if (line.starts_with("OK joined")) joined = true;
      const auto colon = line.find(": S ");
      if (colon == std::string::npos || line.starts_with("WHO")) continue;  // OK, *, ERR, BYE lines
      const std::string_view from = std::string_view(line).substr(0, colon);
      const std::string_view body = std::string_view(line).substr(colon + 2);
      std::uint64_t seq = 0;
      if (std::sscanf(std::string(body).c_str(), "S %lu", &seq) != 1 ||
          body != chat_text(from, seq)) {
        run.t.problem(run.t.mismatches, fmt::format("chat conn {}: garbled line '{}'", id, line));
        ok = false;
        break;
      }
      auto it = next.find(from);
      if (from == nick && seq != echoed) {
        run.t.problem(run.t.mismatches,
                      fmt::format("chat conn {}: own line {} came back as {}", id, echoed, seq));
        ok = false;
      } else if (it != next.end() && it->second != seq) {
        run.t.problem(run.t.mismatches, fmt::format("chat conn {}: from {} expected line {}, got {}",
                                                    id, from, it->second, seq));
        ok = false;
      }
      next[std::string(from)] = seq + 1;
      if (from == nick) ++echoed;
      run.t.verified.fetch_add(line.size() + 1, std::memory_order_relaxed);
    }
  }
}

corio::task<void> run_all(run_state& run) {
  corio::scope s;
  for (unsigned i = 0; i < run.opt.connections; ++i)
    s.spawn(run.opt.mode == "chat" ? chat_sessions(run, i) : echo_sessions(run, i));
  co_await s.join();
}

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--mode") o.mode = v;
    else if (k == "--port") o.port = static_cast<std::uint16_t>(std::atoi(v));
    else if (k == "--connections") o.connections = static_cast<unsigned>(std::atoi(v));
    else if (k == "--duration") o.duration = std::atof(v);
    else if (k == "--timeout") o.timeout = std::atof(v);
    else if (k == "--seed") o.seed = std::strtoull(v, nullptr, 10);
    else return false;
  }
  return (argc % 2) == 1 && o.port != 0 && o.connections > 0 && o.duration > 0 &&
         (o.mode == "echo" || o.mode == "chat");
}

}  // namespace

int main(int argc, char** argv) {
  run_state run;
  if (!parse(argc, argv, run.opt)) {
    fmt::print(stderr,
               "usage: soak_client --mode echo|chat --port P [--connections N] [--duration S] "
               "[--timeout S] [--seed N]\n");
    return 2;
  }
  auto rt = corio::runtime::create({.threads = 2});
  if (!rt) {
    fmt::print(stderr, "soak_client: {}\n", rt.error().message());
    return 1;
  }
  run.timeout = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(run.opt.timeout));
  run.end = clock::now() + std::chrono::duration_cast<clock::duration>(
                               std::chrono::duration<double>(run.opt.duration));
  rt->block_on(run_all(run));
  auto& t = run.t;
  fmt::print("SOAK mode={} sessions={} verified_bytes={} closed_with_error={} connect_errors={} "
             "mismatches={} stuck={}\n",
             run.opt.mode, t.sessions.load(), t.verified.load(), t.closed_with_error.load(),
             t.connect_errors.load(), t.mismatches.load(), t.stuck.load());
  if (!t.first_problem.empty()) fmt::print("first problem: {}\n", t.first_problem);
  return t.mismatches == 0 && t.stuck == 0 && t.verified > 0 ? 0 : 1;
}
