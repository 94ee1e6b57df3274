// tests/io/copy_test.cpp: copy() and copy_bidirectional(): an in-process
// proxy carrying 10 MB each way with half-close in either order, errors,
// cancellation, and streams other than TCP.
#include "corio/io/copy.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "io/memory_stream.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class copy_test : public runtime_test {};

constexpr std::size_t ten_mb = 10 * 1024 * 1024;

// Reads `s` to its end.
task<std::vector<std::byte>> read_to_end(net::tcp_stream& s) {
  std::vector<std::byte> out;
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    auto n = co_await s.read(buf);
    if (!n) {
      ADD_FAILURE() << "read: " << n.error().message();
      co_return out;
    }
    if (*n == 0) co_return out;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
}

// One end of the proxied connection. The end that goes first sends
// everything, shuts down its sending side, then reads to the end; the
// other one reads to the end (which only comes through the proxy's
// half-close), then answers on the still open direction.
task<std::vector<std::byte>> end_point(net::tcp_stream& s, const std::vector<std::byte>& send,
                                       bool first) {
  std::vector<std::byte> got;
  if (!first) got = co_await read_to_end(s);
  if (auto w = co_await s.write_all(send); !w) ADD_FAILURE() << "write: " << w.error().message();
  if (auto sh = s.shutdown(); !sh) ADD_FAILURE() << "shutdown: " << sh.error().message();
  if (first) got = co_await read_to_end(s);
  co_return got;
}

class copy_bidirectional_test : public copy_test, public ::testing::WithParamInterface<bool> {};

TEST_P(copy_bidirectional_test, TenMegabytesEachWayWithHalfClose) {
  const bool client_first = GetParam();
  const auto up = random_bytes(ten_mb, 1);
  const auto down = random_bytes(ten_mb, 2);
  run(
      [](const std::vector<std::byte>& up, const std::vector<std::byte>& down,
         bool client_first) -> task<void> {
        auto [client, front] = co_await connected_pair();  // client to the proxy
        auto [back, server] = co_await connected_pair();   // the proxy to the server
        io::copy_totals progress;
        auto [totals, at_server, at_client] = co_await when_all(
            io::copy_bidirectional(front, back, {}, &progress),
            end_point(server, down, !client_first), end_point(client, up, client_first));
        CO_ASSERT(totals.has_value());
        EXPECT_EQ(totals->a_to_b, ten_mb);
        EXPECT_EQ(totals->b_to_a, ten_mb);
        EXPECT_EQ(progress.a_to_b, ten_mb);
        EXPECT_EQ(progress.b_to_a, ten_mb);
        // Whole-content comparison: stronger than any checksum.
        EXPECT_TRUE(at_server == up) << "client to server: " << at_server.size() << " bytes";
        EXPECT_TRUE(at_client == down) << "server to client: " << at_client.size() << " bytes";
      }(up, down, client_first),
      std::chrono::seconds(50));
}

INSTANTIATE_TEST_SUITE_P(closes_first, copy_bidirectional_test, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "client" : "server"; });

TEST_F(copy_test, StopCancelsBothDirections) {
  run([]() -> task<void> {
    auto [client, front] = co_await connected_pair();
    auto [back, server] = co_await connected_pair();
    std::stop_source stop;
    auto stopper = [](net::tcp_stream& client, net::tcp_stream& server,
                      std::stop_source& stop) -> task<void> {
      // Some bytes through first, so both directions are known to be running.
      std::array<std::byte, 5> got;
      (void)co_await client.write_all(std::string_view("hello"));
      (void)co_await server.read_exact(got);
      stop.request_stop();
    };
    io::copy_totals progress;
    auto [totals, unused] =
        co_await when_all(io::copy_bidirectional(front, back, stop.get_token(), &progress),
                          stopper(client, server, stop));
    CO_ASSERT(!totals);
    EXPECT_EQ(totals.error(), std::errc::operation_canceled);
    EXPECT_EQ(progress.a_to_b, 5u);
  }());
}

// The server resets its connection; the client then sends a byte. Where the
// OS reports the reset to the proxy's pending read (Linux), that direction
// fails; where it reports an orderly end instead (Wine), the proxy passes it
// on and the client's byte then fails to go out. Either way the copy ends
// with the error, the other direction stopped and joined.
TEST_F(copy_test, ResetOnOneSideEndsBothWithTheError) {
  run([]() -> task<void> {
    auto [client, front] = co_await connected_pair();
    auto [back, server] = co_await connected_pair();
    auto breaker = [](net::tcp_stream& server, net::tcp_stream& client) -> task<void> {
      abort_connection(server);
      (void)co_await client.write_all(std::string_view("x"));
    };
    auto [totals, unused] =
        co_await when_all(io::copy_bidirectional(front, back), breaker(server, client));
    CO_ASSERT(!totals);
    EXPECT_TRUE(totals.error() == std::errc::connection_reset ||
                totals.error() == std::errc::connection_aborted ||
                totals.error() == std::errc::broken_pipe)
        << totals.error().message();
  }());
}

TEST_F(copy_test, CopyDrainsABufferedReaderFirst) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    CO_ASSERT(co_await client.write_all(std::string_view("header\nbody bytes")));
    CO_ASSERT(client.shutdown());
    io::buffered_reader r(server, 64);
    auto head = co_await r.read_line(64);
    CO_ASSERT(head.has_value());
    EXPECT_EQ(*head, "header");
    memory_stream sink;
    auto n = co_await io::copy(r, sink);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(sink.written, "body bytes");
    EXPECT_EQ(*n, 10u);
  }());
}

TEST_F(copy_test, CopyAndCopyBidirectionalOverOtherStreams) {
  run([]() -> task<void> {
    memory_stream a{.chunks = {"from a, ", "in two reads"}};
    memory_stream b{.chunks = {"from b"}};
    auto totals = co_await io::copy_bidirectional(a, b);
    CO_ASSERT(totals.has_value());
    EXPECT_EQ(b.written, "from a, in two reads");
    EXPECT_EQ(a.written, "from b");
    EXPECT_EQ(totals->a_to_b, 20u);
    EXPECT_EQ(totals->b_to_a, 6u);
    EXPECT_TRUE(a.shut && b.shut);  // each end's sending side shut down after the other's end
  }());
}

}  // namespace
}  // namespace corio::test
