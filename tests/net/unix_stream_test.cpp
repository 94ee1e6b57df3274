// tests/net/unix_stream_test.cpp: Unix-domain stream sockets: echo over a
// path and over an abstract name, names refused with a clear error, half
// close, and closing with a read in flight. On Windows these run where the
// system has AF_UNIX and skip (saying so) where it does not.
#include <gtest/gtest.h>

#include <array>
#include <concepts>
#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>

#include "corio/corio.hpp"
#include "corio/io/stream.hpp"
#include "support/run.hpp"

#ifdef _WIN32
#include <process.h>
#define CORIO_TEST_PID _getpid()
#else
#include <unistd.h>
#define CORIO_TEST_PID ::getpid()
#endif

namespace corio::test {
namespace {

using namespace std::chrono_literals;

// A unix_stream is a stream like tcp_stream for the buffered reader and
// writer, copy and copy_bidirectional.
static_assert(io::readable_stream<net::unix_stream> && io::writable_stream<net::unix_stream> &&
              io::half_closable<net::unix_stream> && io::gather_writable_stream<net::unix_stream>);
// Both kinds of stream are a basic_stream, which is not made on its own;
// only tcp_stream (and a write_half) takes send_file's zero-copy path: a
// unix_stream takes the copy loop.
static_assert(std::derived_from<net::unix_stream, net::basic_stream> &&
              std::derived_from<net::tcp_stream, net::basic_stream> &&
              !std::is_default_constructible_v<net::basic_stream>);
static_assert(!fs::detail::is_tcp_stream_v<net::unix_stream> &&
              fs::detail::is_tcp_stream_v<net::tcp_stream>);

class unix_stream_test : public runtime_test {
 protected:
  void SetUp() override {
    runtime_test::SetUp();
    // A fresh path per test (tests of one binary may run in parallel).
    static std::atomic<int> serial{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("corio-" + std::to_string(CORIO_TEST_PID) + "-" + std::to_string(serial++) + ".sock"))
                .string();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    auto probe = net::unix_listener::bind(path_);
    if (!probe && probe.error() == std::errc::not_supported)
      GTEST_SKIP() << "this system has no AF_UNIX sockets (not_supported)";
    ASSERT_TRUE(probe) << "bind " << path_ << ": " << probe.error().message();
    probe->close();
    std::filesystem::remove(path_, ec);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    runtime_test::TearDown();
  }
  std::string path_;
};

struct unix_pair {
  net::unix_stream client, server;
};

task<unix_pair> connected(std::string name) {
  auto listener = net::unix_listener::bind(name);
  EXPECT_TRUE(listener) << listener.error().message();
  if (!listener) co_return unix_pair{};
  auto client = co_await net::unix_stream::connect(name);
  auto accepted = co_await with_timeout(listener->accept(), 5s);
  EXPECT_TRUE(client) << client.error().message();
  EXPECT_TRUE(accepted) << accepted.error().message();
  if (!client || !accepted) co_return unix_pair{};
  co_return unix_pair{std::move(*client), std::move(*accepted)};
}

// Echo over a filesystem path, with the server's halves in two coroutines.
TEST_F(unix_stream_test, EchoesOverAPath) {
  run([](std::string path) -> task<void> {
    auto [client, server] = co_await connected(path);
    CO_ASSERT(client.is_open() && server.is_open());
    scope s;
    s.spawn_local([](net::unix_stream& server) -> task<void> {
      auto [reader, writer] = server.split();
      std::array<std::byte, 256> buf;
      for (;;) {
        auto n = co_await reader.read(buf);
        if (!n || *n == 0) break;
        if (!co_await writer.write_all(std::span(buf).first(*n))) break;
      }
      (void)writer.shutdown();
    }(server));
    const std::string msg(10'000, 'u');
    CO_ASSERT(co_await client.write_all(msg));
    CO_ASSERT(client.shutdown());
    std::string back;
    std::array<char, 512> buf;
    for (;;) {
      auto n = co_await with_timeout(client.read(buf), 5s);
      CO_ASSERT(n);
      if (*n == 0) break;
      back.append(buf.data(), *n);
    }
    co_await s.join();
    EXPECT_EQ(back, msg);
  }(path_));
}

// An abstract name (Linux): no file, gone with its last socket.
TEST_F(unix_stream_test, EchoesOverAnAbstractName) {
#ifdef _WIN32
  GTEST_SKIP() << "abstract names are Linux only (Windows: not_supported)";
#else
  run([](std::string path) -> task<void> {
    const std::string name = "@corio-test-" + std::filesystem::path(path).filename().string();
    auto [client, server] = co_await connected(name);
    CO_ASSERT(client.is_open() && server.is_open());
    EXPECT_FALSE(std::filesystem::exists(name.substr(1)));
    CO_ASSERT(co_await client.write_all(std::string_view("abstract")));
    std::array<char, 8> buf;
    CO_ASSERT(co_await with_timeout(server.read_exact(buf), 5s));
    EXPECT_EQ(std::string_view(buf.data(), 8), "abstract");
    // The same name with a leading NUL is the same name: taken while a
    // listener holds it, free again once it closed (no file to remove).
    const std::string nul_form = std::string("\0", 1) + name.substr(1);
    auto first = net::unix_listener::bind(name);
    CO_ASSERT(first);
    auto again = net::unix_listener::bind(nul_form);
    CO_ASSERT(!again);
    EXPECT_EQ(again.error(), std::errc::address_in_use) << again.error().message();
    first->close();
    EXPECT_TRUE(net::unix_listener::bind(nul_form));
  }(path_));
#endif
}

// Names the system cannot hold fail with a clear error, at bind and at connect.
TEST_F(unix_stream_test, BadNamesAreRefusedClearly) {
  run([]() -> task<void> {
    const std::string too_long = "/tmp/" + std::string(200, 'x');
    auto l = net::unix_listener::bind(too_long);
    CO_ASSERT(!l);
    EXPECT_EQ(l.error(), std::errc::filename_too_long);
    auto c = co_await net::unix_stream::connect(too_long);
    CO_ASSERT(!c);
    EXPECT_EQ(c.error(), std::errc::filename_too_long);
    EXPECT_EQ(net::unix_listener::bind("").error(), std::errc::invalid_argument);
    EXPECT_EQ(net::unix_listener::bind(std::string_view("/tmp/a\0b", 8)).error(),
              std::errc::invalid_argument);
#ifndef _WIN32
    auto abstract = net::unix_listener::bind("@" + std::string(200, 'y'));
    CO_ASSERT(!abstract);
    EXPECT_EQ(abstract.error(), std::errc::filename_too_long);
#endif
    // Nobody there.
    auto missing = co_await net::unix_stream::connect("/nonexistent-dir/corio.sock");
    CO_ASSERT(!missing);
    EXPECT_TRUE(missing.error() == std::errc::no_such_file_or_directory ||
                missing.error() == std::errc::connection_refused)
        << missing.error().message();
  }());
}

// shutdown(send) ends the peer's reads; the other direction goes on.
TEST_F(unix_stream_test, HalfCloseKeepsTheOtherDirection) {
  run([](std::string path) -> task<void> {
    auto [client, server] = co_await connected(path);
    CO_ASSERT(client.is_open() && server.is_open());
    CO_ASSERT(co_await client.write_all(std::string_view("last words")));
    CO_ASSERT(client.shutdown());
    std::array<char, 32> buf;
    std::string got;
    for (;;) {
      auto n = co_await with_timeout(server.read(buf), 5s);
      CO_ASSERT(n);
      if (*n == 0) break;
      got.append(buf.data(), *n);
    }
    EXPECT_EQ(got, "last words");
    CO_ASSERT(co_await server.write_all(std::string_view("reply")));
    CO_ASSERT(server.shutdown());
    std::array<char, 5> r;
    CO_ASSERT(co_await with_timeout(client.read_exact(r), 5s));
    EXPECT_EQ(std::string_view(r.data(), 5), "reply");
  }(path_));
}

// Closing a stream with a read in flight cancels the read.
TEST_F(unix_stream_test, CloseWithAReadInFlightCancelsIt) {
  run([](runtime& rt, std::string path) -> task<void> {
    auto [client, server] = co_await connected(path);
    CO_ASSERT(client.is_open() && server.is_open());
    std::error_code got;
    scope s;
    s.spawn_local([](net::unix_stream& server, std::error_code& got) -> task<void> {
      std::array<char, 16> buf;
      auto n = co_await with_timeout(server.read(buf), 1h);
      if (n) ADD_FAILURE() << "read " << *n << " bytes from a closed stream";
      else got = n.error();
    }(server, got));
    while (rt.operations_in_flight() < 2) co_await yield();
    server.close();
    co_await s.join();
    EXPECT_EQ(got, std::errc::operation_canceled) << got.message();
  }(rt, path_));
}

}  // namespace
}  // namespace corio::test
