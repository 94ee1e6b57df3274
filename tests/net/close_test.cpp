// tests/net/close_test.cpp: the edges of a stream's life: closing it (or
// destroying it) with operations in flight, reads and writes of 0 bytes,
// shutdown after the peer reset, gather writes, and what the compiler
// refuses.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "corio/corio.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class close_test : public runtime_test {};

// Yields until `n` operations are in flight on `rt` (the child started).
task<void> until_in_flight(runtime& rt, std::int64_t n) {
  while (rt.operations_in_flight() < n) co_await yield();
}

// A read under with_timeout on a stream that another coroutine closes
// completes with operation_canceled at once: not at the timeout, never a
// hang, and the socket is released only after the read completed.
TEST_F(close_test, CloseWithAReadInFlightCancelsIt) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::error_code got;
    bool done = false;
    scope s;
    s.spawn_local([](net::tcp_stream& server, std::error_code& got, bool& done) -> task<void> {
      std::array<char, 64> buf;
      auto n = co_await with_timeout(server.read(buf), 1h);
      EXPECT_FALSE(n) << "read " << *n << " bytes from a closed stream";
      if (!n) got = n.error();
      done = true;
    }(server, got, done));
    co_await until_in_flight(rt, 2);  // the read and its timer
    EXPECT_FALSE(done);
    server.close();
    co_await s.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(got, std::errc::operation_canceled) << got.message();
    // The peer sees the connection end.
    std::array<char, 8> buf;
    auto n = co_await client.read(buf);
    EXPECT_TRUE(!n || *n == 0);
  }(rt));
}

// A read under with_stop whose token is stopped and whose stream is closed
// in the same turn, before the worker has swept the stop: the close ends
// the read, once, with operation_canceled, and the sweep that follows finds
// nothing left to cancel. (bench/stop_scale ended its connections so; when
// a close dropped the read in flight instead of cancelling it, its scope
// waited forever on epoll.)
TEST_F(close_test, StopAndCloseInOneTurnEndTheReadOnce) {
  run([](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::stop_source stop;
    std::error_code got;
    int ended = 0;
    scope s;
    s.spawn_local([](net::tcp_stream& server, std::stop_token token, std::error_code& got,
                     int& ended) -> task<void> {
      std::array<std::byte, 64> buf;
      auto r = co_await with_stop(server.read_exact(buf), token);
      EXPECT_FALSE(r) << "the peer sent nothing";
      if (!r) got = r.error();
      ++ended;
    }(server, stop.get_token(), got, ended));
    co_await until_in_flight(rt, 1);
    EXPECT_EQ(ended, 0);
    stop.request_stop();
    server.close();
    co_await s.join();
    EXPECT_EQ(ended, 1);
    EXPECT_EQ(got, std::errc::operation_canceled) << got.message();
    std::array<char, 8> buf;
    auto n = co_await client.read(buf);
    EXPECT_TRUE(!n || *n == 0);
  }(rt));
}

// The same for a write blocked on a full socket buffer, ended by destroying
// the stream that owns the socket.
TEST_F(close_test, DestroyingAStreamWithAWriteInFlightCancelsIt) {
  run([](runtime& rt) -> task<void> {
    auto pair = co_await connected_pair();
    auto writer = std::make_unique<net::tcp_stream>(std::move(pair.client));
    const std::vector<std::byte> big(64 * 1024 * 1024);  // far more than the buffers hold
    std::error_code got;
    bool done = false;
    scope s;
    s.spawn_local([](net::tcp_stream& w, const std::vector<std::byte>& big, std::error_code& got,
                     bool& done) -> task<void> {
      auto r = co_await w.write_all(big);
      EXPECT_FALSE(r) << "the peer never reads: the write cannot have finished";
      if (!r) got = r.error();
      done = true;
    }(*writer, big, got, done));
    // Until the write waits: the peer's buffer and ours are full.
    co_await until_in_flight(rt, 1);
    EXPECT_FALSE(done);
    writer.reset();  // the destructor closes the socket
    co_await s.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(got, std::errc::operation_canceled) << got.message();
  }(rt));
}

// Closing a listener ends the accept waiting on it.
TEST_F(close_test, ClosingAListenerCancelsItsAccept) {
  run([](runtime& rt) -> task<void> {
    auto listener = listen_loopback();
    std::error_code got;
    bool done = false;
    scope s;
    s.spawn_local([](net::tcp_listener& l, std::error_code& got, bool& done) -> task<void> {
      auto c = co_await with_timeout(l.accept(), 1h);
      EXPECT_FALSE(c);
      if (!c) got = c.error();
      done = true;
    }(listener, got, done));
    co_await until_in_flight(rt, 2);  // the accept and its timer
    EXPECT_FALSE(done);
    listener.close();
    co_await s.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(got, std::errc::operation_canceled) << got.message();
  }(rt));
}

// A read of 0 bytes completes at once with 0 (with nothing to read, and
// with data waiting, which it leaves there); 0 from a non-empty buffer is
// the end of the stream. A write of 0 bytes sends nothing.
TEST_F(close_test, ZeroLengthReadsAndWritesCompleteAtOnce) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::span<std::byte> empty;
    auto n = co_await with_timeout(server.read(empty), 1h);  // nothing sent: must not wait
    CO_ASSERT(n);
    EXPECT_EQ(*n, 0u);
    auto w = co_await client.write(std::span<const std::byte>());
    CO_ASSERT(w);
    EXPECT_EQ(*w, 0u);
    CO_ASSERT(co_await client.write_all(std::string_view("abc")));
    n = co_await server.read(empty);  // data waiting: left for the next read
    CO_ASSERT(n);
    EXPECT_EQ(*n, 0u);
    std::array<char, 3> buf;
    CO_ASSERT(co_await server.read_exact(buf));
    EXPECT_EQ(std::string_view(buf.data(), 3), "abc");
    CO_ASSERT(client.shutdown());
    auto eof = co_await server.read(buf);
    CO_ASSERT(eof);
    EXPECT_EQ(*eof, 0u) << "0 from a non-empty buffer is the end of the stream";
  }());
}

// After the peer reset the connection, shutdown (of the stream or of its
// write half) has nothing left to do and says so with success (as Tokio does), not with an error every caller
// would have to special-case.
TEST_F(close_test, ShutdownAfterThePeerResetSucceeds) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    abort_connection(client);
    std::array<char, 8> buf;
    auto n = co_await server.read(buf);
    EXPECT_TRUE(!n || *n == 0);  // the reset (or, on some systems, EOF)
    auto half = server.split().writer.shutdown();
    EXPECT_TRUE(half) << "a write half answers like its stream: " << half.error().message();
    auto s = server.shutdown();
    EXPECT_TRUE(s) << s.error().message();
    auto both = server.shutdown(net::tcp_stream::shutdown_how::both);
    EXPECT_TRUE(both) << both.error().message();
  }());
}

// A gather write sends every slice in order, 0-length slices included, and
// leaves the slices empty: more slices than one step takes, and slices too
// big for one send.
TEST_F(close_test, GatherWriteSendsEverySliceInOrder) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::vector<std::vector<std::byte>> parts;
    std::vector<std::byte> expected;
    for (std::uint32_t i = 0; i < 100; ++i) {
      const std::size_t size = i % 10 == 0 ? 0 : (i % 7 == 0 ? 300'000 : i * 13);
      parts.push_back(random_bytes(size, i));
      expected.insert(expected.end(), parts.back().begin(), parts.back().end());
    }
    std::vector<io_slice> slices;
    for (auto& p : parts) slices.push_back(as_slice(p));
    std::vector<std::byte> got(expected.size());
    scope s;
    s.spawn_local([](net::tcp_stream& server, std::vector<std::byte>& got) -> task<void> {
      auto r = co_await server.read_exact(got);
      EXPECT_TRUE(r);
    }(server, got));
    auto w = co_await client.write_all(std::span(slices));
    EXPECT_TRUE(w) << w.error().message();
    co_await s.join();
    EXPECT_TRUE(got == expected);
    for (auto& sl : slices) EXPECT_EQ(sl.size, 0u);
  }());
}

// write("literal") would send the terminating NUL: refused at compile time.
template <class S>
concept writes_char_arrays = requires(S& s) { s.write_all("abc"); };
template <class S>
concept writes_string_views = requires(S& s) { s.write_all(std::string_view("abc")); };
static_assert(!writes_char_arrays<net::tcp_stream>);
static_assert(writes_string_views<net::tcp_stream>);
static_assert(!writes_char_arrays<net::write_half>);

}  // namespace
}  // namespace corio::test
