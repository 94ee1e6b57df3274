// tests/observe/metrics_test.cpp: runtime::metrics() against a known
// workload, and format_prometheus() read back by a small parser.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <thread>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

constexpr std::size_t connections = 4;
constexpr std::size_t messages = 25;
constexpr std::size_t message_size = 100;

std::size_t kind(std::string_view name) {
  for (std::size_t k = 0; k < operation_kind_count; ++k) {
    if (operation_kind_name(k) == name) return k;
  }
  ADD_FAILURE() << "no operation kind " << name;
  return 0;
}

// Echoes until EOF: one read per message (the client waits for each echo
// before sending the next, so no two messages ever meet in one read), one
// write_all per message, and the read that sees EOF.
task<void> echo(net::tcp_stream s) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span(buf).first(*n))) co_return;
  }
}

// N connections, M messages each, ping-pong; the server accepts exactly N.
task<void> workload() {
  auto listener = listen_loopback();
  const auto port = port_of(listener);
  scope s;
  s.spawn([](net::tcp_listener& l, scope& s) -> task<void> {
    for (std::size_t i = 0; i < connections; ++i) {
      auto c = co_await l.accept();
      CO_ASSERT(c);
      s.spawn(echo(std::move(*c)));
    }
  }(listener, s));
  for (std::size_t i = 0; i < connections; ++i) {
    s.spawn([](std::uint16_t port) -> task<void> {
      auto c = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
      CO_ASSERT(c);
      std::array<std::byte, message_size> out{}, in{};
      for (std::size_t m = 0; m < messages; ++m) {
        out.fill(static_cast<std::byte>(m));
        CO_ASSERT(co_await c->write_all(out));
        CO_ASSERT(co_await c->read_exact(in));
        EXPECT_EQ(in, out);
      }
      c->shutdown();  // the server's read sees EOF and ends
    }(port));
  }
  co_await s.join();
}

TEST(metrics_test, CountersMatchAKnownWorkloadExactly) {
  // One worker: nothing crosses workers, and every counter is in one place.
  auto rt = runtime::create({.threads = 1});
  ASSERT_TRUE(rt);
  const auto before = rt->metrics();
  run(*rt, workload());
  const auto m = rt->metrics();
  ASSERT_EQ(m.workers.size(), 1u);
  const auto& t = m.total;
  const auto& b = before.total;
  const std::uint64_t bytes = connections * messages * message_size;
  // Each message is read and written once by the client and once by the server.
  EXPECT_EQ(t.bytes_read - b.bytes_read, 2 * bytes);
  EXPECT_EQ(t.bytes_written - b.bytes_written, 2 * bytes);
  auto ops = [&](std::string_view k) { return t.started[kind(k)] - b.started[kind(k)]; };
  EXPECT_EQ(ops("connect"), connections);
  EXPECT_EQ(ops("accept"), connections);
  // Loopback takes a 100-byte send whole: one send per write_all.
  EXPECT_EQ(ops("send") + ops("send_vectored"), 2 * connections * messages);
  // The client's read per message, the server's, and the server's EOF read.
  EXPECT_EQ(ops("recv"), 2 * connections * messages + connections);
  EXPECT_EQ(ops("timer"), 0u);
  // Every operation started has finished, one way or the other.
  EXPECT_EQ(t.submissions, t.inline_completions + t.completions);
  for (std::size_t k = 0; k < operation_kind_count; ++k) {
    EXPECT_EQ(t.in_flight[k], 0) << operation_kind_name(k);
  }
  EXPECT_GT(t.kernel_entries, 0u);
  EXPECT_GT(t.turns, 0u);
  // block_on handed the task over from this thread: a post.
  EXPECT_GE(t.posts_received, 1u);
  EXPECT_EQ(m.sockets_open, before.sockets_open);
  EXPECT_EQ(m.backend, to_string(rt->backend()));
}

TEST(metrics_test, InFlightAndTimersPendingWhileWaiting) {
  auto rt = runtime::create({.threads = 2});
  ASSERT_TRUE(rt);
  auto h = rt->spawn([](std::stop_token stop) -> task<void> {
    co_await with_stop(sleep_for(std::chrono::hours(1)), stop);
  });
  // Waits for the timer to be armed (bounded; no sleep).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (rt->metrics().total.in_flight[kind("timer")] != 1 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  EXPECT_EQ(rt->metrics().total.in_flight[kind("timer")], 1);
  h.cancel();
  EXPECT_TRUE(h.wait().has_value());
  EXPECT_EQ(rt->metrics().total.in_flight[kind("timer")], 0);
}

// ---- A small Prometheus text-format parser (exposition format 0.0.4) ----

struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

bool is_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return false;
  }
  return true;
}

// Parses `text` into samples; records a failure (and returns what it got
// so far) at the first line that is not valid exposition format.
std::vector<sample> parse_prometheus(std::string_view text) {
  std::vector<sample> out;
  std::map<std::string, std::string> types;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto eol = text.find('\n');
    if (eol == std::string_view::npos) {
      ADD_FAILURE() << "line " << line_no << " has no newline";
      return out;
    }
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::string_view rest = line.substr(7);
      const auto sp = rest.find(' ');
      if (sp == std::string_view::npos || !is_name(rest.substr(0, sp))) {
        ADD_FAILURE() << "line " << line_no << ": bad comment: " << line;
        return out;
      }
      if (line[2] == 'T') {
        const std::string_view type = rest.substr(sp + 1);
        if (type != "counter" && type != "gauge" && type != "untyped") {
          ADD_FAILURE() << "line " << line_no << ": bad type " << type;
          return out;
        }
        types[std::string(rest.substr(0, sp))] = type;
      }
      continue;
    }
    sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!is_name(s.name)) {
      ADD_FAILURE() << "line " << line_no << ": bad metric name: " << line;
      return out;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const auto eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          ADD_FAILURE() << "line " << line_no << ": bad label: " << line;
          return out;
        }
        const std::string label(line.substr(i, eq - i));
        const auto close = line.find('"', eq + 2);
        if (!is_name(label) || close == std::string_view::npos) {
          ADD_FAILURE() << "line " << line_no << ": bad label: " << line;
          return out;
        }
        s.labels[label] = line.substr(eq + 2, close - eq - 2);
        i = close + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) {
        ADD_FAILURE() << "line " << line_no << ": unclosed labels: " << line;
        return out;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      ADD_FAILURE() << "line " << line_no << ": no value: " << line;
      return out;
    }
    const std::string value(line.substr(i + 1));
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') {
      ADD_FAILURE() << "line " << line_no << ": bad value: " << line;
      return out;
    }
    const auto type = types.find(s.name);
    if (type == types.end()) {
      ADD_FAILURE() << "line " << line_no << ": sample before its TYPE: " << s.name;
      return out;
    }
    if (type->second == "counter" && !s.name.ends_with("_total")) {
      ADD_FAILURE() << "line " << line_no << ": counter without _total: " << s.name;
    }
    out.push_back(std::move(s));
  }
  return out;
}

TEST(metrics_test, PrometheusTextParsesAndAgreesWithTheSnapshot) {
  auto rt = runtime::create({.threads = 2});
  ASSERT_TRUE(rt);
  run(*rt, workload());
  const auto m = rt->metrics();
  const auto samples = parse_prometheus(format_prometheus(m));
  ASSERT_FALSE(samples.empty());
  double read = 0, accepts = 0;
  std::size_t workers_seen = 0;
  for (const auto& s : samples) {
    if (s.name == "corio_read_bytes_total") {
      read += s.value;
      ++workers_seen;
      EXPECT_TRUE(s.labels.contains("worker"));
    }
    if (s.name == "corio_operations_total" && s.labels.at("kind") == "accept") accepts += s.value;
    if (s.name == "corio_info") {
      EXPECT_EQ(s.labels.at("backend"), std::string(m.backend));
    }
  }
  EXPECT_EQ(workers_seen, 2u);
  EXPECT_EQ(read, static_cast<double>(m.total.bytes_read));
  EXPECT_EQ(accepts, static_cast<double>(connections));
}

TEST(metrics_test, TheParserRejectsBadText) {
  // The parser above is what the test relies on: it must be able to fail.
  std::size_t failures = 0;
  for (std::string_view bad : {"x 1\n", "# TYPE x counter\nx{a=1} 1\n",
                               "# TYPE x_total counter\nx_total{a=\"1\"} one\n"}) {
    testing::TestPartResultArray results;
    {
      testing::ScopedFakeTestPartResultReporter reporter(
          testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
      (void)parse_prometheus(bad);
    }
    failures += results.size() > 0 ? 1 : 0;
  }
  EXPECT_EQ(failures, 3u);
}

}  // namespace
}  // namespace corio::test
