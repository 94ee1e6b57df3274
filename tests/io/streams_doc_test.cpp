// tests/io/streams_doc_test.cpp: the examples of docs/streams.md, word for
// word (tests/demos/streams_doc.py checks that), compiled and run here.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "corio/corio.hpp"
#include "corio/io/buffered_reader.hpp"
#include "corio/io/buffered_writer.hpp"
#include "corio/io/copy.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

// ---- docs/streams.md examples ----------------------------------------------

// Answers each line with its length, until the client closes.
corio::task<void> line_lengths(corio::net::tcp_stream& conn) {
  corio::io::buffered_reader in(conn);
  corio::io::buffered_writer out(conn);
  for (;;) {
    auto line = co_await in.read_line(1024);  // LF or CRLF, at most 1024 bytes
    if (!line) break;  // errc::end_of_stream, errc::limit_exceeded or an I/O error
    if (!co_await out.write(std::to_string(line->size()) + "\n")) break;
    // Flush before waiting for more input (replies to pipelined lines go together).
    if (in.buffered().empty() && !co_await out.flush()) break;
  }
  (void)co_await out.flush();
}

// Reads a header block ended by an empty line; says how large it was, or
// skips an oversized one (still buffered after the error) and reports it.
corio::task<std::string> header_block(corio::io::buffered_reader<corio::net::tcp_stream>& in) {
  auto head = co_await in.read_until("\r\n\r\n", 256);
  if (head) co_return "header of " + std::to_string(head->size()) + " bytes";
  if (head.error() == corio::errc::limit_exceeded) {
    const auto kept = in.buffered().size();  // nothing read was lost
    in.consume(kept);
    co_return "too large: dropped " + std::to_string(kept) + " bytes";
  }
  co_return head.error().message();
}

// A length-prefixed message: a 2-byte big-endian size, then the payload.
corio::task<corio::result<std::string>> read_message(
    corio::io::buffered_reader<corio::net::tcp_stream>& in) {
  std::array<std::byte, 2> size;
  if (auto ok = co_await in.read_exact(size); !ok) co_return corio::fail(ok.error());
  const auto n = std::to_integer<std::size_t>(size[0]) << 8 | std::to_integer<std::size_t>(size[1]);
  std::string payload(n, '\0');
  if (auto ok = co_await in.read_exact(std::as_writable_bytes(std::span(payload))); !ok)
    co_return corio::fail(ok.error());
  co_return payload;
}

// One proxied connection: both ways until both sides are done, half-close
// passed on. Resumes with the bytes moved each way, or why it ended.
corio::task<corio::result<corio::io::copy_totals>> relay(corio::net::tcp_stream client,
                                                         corio::net::endpoint target,
                                                         std::stop_token stop) {
  auto upstream = co_await corio::with_stop(corio::net::tcp_stream::connect(target), stop);
  if (!upstream) co_return corio::fail(upstream.error());
  co_return co_await corio::io::copy_bidirectional(client, *upstream, stop);
}

// Sends everything `source` yields on conn's write half, then shuts that
// half down: the peer reads its end, and its reply can still be read.
corio::task<corio::result<std::uint64_t>> upload(corio::net::tcp_stream& conn,
                                                 corio::io::buffered_reader<corio::net::tcp_stream>& source) {
  auto halves = conn.split();
  auto sent = co_await corio::io::copy(source, halves.writer);
  if (!sent) co_return sent;
  if (auto shut = halves.writer.shutdown(); !shut) co_return corio::fail(shut.error());
  co_return sent;
}

// The options a long-lived connection usually wants.
corio::result<void> tune(corio::net::tcp_stream& conn) {
  using namespace std::chrono_literals;
  if (auto ok = conn.set_keepalive({.idle = 60s, .interval = 10s}); !ok) return ok;
  if (auto ok = conn.set_send_buffer_size(256 * 1024); !ok) return ok;
  return conn.set_receive_buffer_size(256 * 1024);
}

// ---- end of the examples ---------------------------------------------------

class streams_doc_test : public runtime_test {};

std::string_view text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

TEST_F(streams_doc_test, LineLengths) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    scope s;
    s.spawn_local([](net::tcp_stream& conn) -> task<void> { co_await line_lengths(conn); }(server));
    CO_ASSERT(co_await client.write_all(std::string_view("hello\r\nworld!\n")));
    CO_ASSERT(client.shutdown());
    std::array<std::byte, 4> got;
    CO_ASSERT(co_await client.read_exact(got));
    EXPECT_EQ(text(got), "5\n6\n");
    co_await s.join();
  }());
}

TEST_F(streams_doc_test, HeaderBlockAndMessages) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    io::buffered_reader in(server, 512);
    CO_ASSERT(co_await client.write_all(std::string_view("A: 1\r\n\r\n")));
    EXPECT_EQ(co_await header_block(in), "header of 8 bytes");
    CO_ASSERT(co_await client.write_all(std::string(300, 'x')));
    EXPECT_EQ((co_await header_block(in)).substr(0, 19), "too large: dropped ");
    io::buffered_reader in2(client);
    const std::array<char, 7> msg = {0, 5, 'h', 'e', 'l', 'l', 'o'};
    CO_ASSERT(co_await server.write_all(msg));
    auto m = co_await read_message(in2);
    CO_ASSERT(m.has_value());
    EXPECT_EQ(*m, "hello");
    CO_ASSERT(tune(client));
  }());
}

TEST_F(streams_doc_test, RelayAndUpload) {
  run([]() -> task<void> {
    auto target = listen_loopback();
    auto [client, front] = co_await connected_pair();
    scope s;
    result<io::copy_totals> moved = fail(std::errc::operation_in_progress);
    s.spawn_local([](net::tcp_stream front, net::endpoint to,
                     result<io::copy_totals>& out) -> task<void> {
      out = co_await relay(std::move(front), to, {});
    }(std::move(front), net::endpoint::loopback_v4(port_of(target)), moved));
    auto back = co_await target.accept();
    CO_ASSERT(back.has_value());
    // The upload's source: another connection, ended by its writer.
    auto [feeder, source_end] = co_await connected_pair();
    CO_ASSERT(co_await feeder.write_all(std::string_view("payload")));
    CO_ASSERT(feeder.shutdown());
    io::buffered_reader source(source_end);
    auto sent = co_await upload(client, source);
    CO_ASSERT(sent && *sent == 7);
    std::array<std::byte, 7> got;
    CO_ASSERT(co_await back->read_exact(got));
    EXPECT_EQ(text(got), "payload");
    CO_ASSERT(co_await back->write_all(std::string_view("ok")));
    CO_ASSERT(back->shutdown());
    std::array<std::byte, 2> reply;
    CO_ASSERT(co_await client.read_exact(reply));
    EXPECT_EQ(text(reply), "ok");
    co_await s.join();
    CO_ASSERT(moved.has_value());
    EXPECT_EQ(moved->a_to_b, 7u);
    EXPECT_EQ(moved->b_to_a, 2u);
  }());
}

}  // namespace
}  // namespace corio::test
