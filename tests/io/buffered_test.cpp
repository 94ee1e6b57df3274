// tests/io/buffered_test.cpp: buffered_reader and buffered_writer, over a
// scripted in-memory stream (every split point) and over TCP.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "corio/io/buffered_reader.hpp"
#include "corio/io/buffered_writer.hpp"
#include "corio/io/copy.hpp"
#include "io/memory_stream.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using io::buffered_reader;
using io::buffered_writer;

class buffered_test : public runtime_test {};

// The stream concepts: TCP streams and their halves, and the buffered
// types themselves (a reader is readable, a writer writable).
static_assert(io::duplex_stream<net::tcp_stream>);
static_assert(io::readable_stream<net::read_half>);
static_assert(io::half_closable<net::write_half>);
static_assert(io::readable_stream<buffered_reader<net::tcp_stream>>);
static_assert(io::writable_stream<buffered_writer<net::write_half>>);
static_assert(io::gather_writable_stream<gather_memory_stream>);
static_assert(io::gather_writable_stream<net::tcp_stream>);
static_assert(io::gather_writable_stream<net::write_half>);
static_assert(!io::writable_stream<net::read_half>);

// Reads every line of `chunks` with a reader of `capacity` bytes.
task<std::vector<std::string>> lines_of(std::deque<std::string> chunks, std::size_t capacity) {
  memory_stream s{.chunks = std::move(chunks)};
  buffered_reader r(s, capacity);
  std::vector<std::string> out;
  for (;;) {
    auto line = co_await r.read_line(1024);
    if (!line) {
      EXPECT_EQ(line.error(), errc::end_of_stream) << line.error().message();
      break;
    }
    out.emplace_back(*line);
  }
  co_return out;
}

TEST_F(buffered_test, LinesSplitAtEveryPointAcrossReadsAndBuffers) {
  const std::string msg = "GET / HTTP/1.1\r\nHost: a\r\n\r\nlast line\n";
  const std::vector<std::string> want = {"GET / HTTP/1.1", "Host: a", "", "last line"};
  // Capacity 16 makes lines straddle the buffer's end (compaction); 1024
  // keeps everything in one buffer.
  for (std::size_t capacity : {std::size_t{16}, std::size_t{1024}}) {
    for (std::size_t i = 1; i < msg.size(); ++i) {
      auto got = run(lines_of({msg.substr(0, i), msg.substr(i)}, capacity));
      EXPECT_EQ(got, want) << "split at " << i << ", capacity " << capacity;
    }
    std::deque<std::string> bytes;
    for (char c : msg) bytes.emplace_back(1, c);
    EXPECT_EQ(run(lines_of(bytes, capacity)), want) << "one byte per read, capacity " << capacity;
  }
}

TEST_F(buffered_test, MultiByteDelimiterSplitAtEveryPoint) {
  const std::string head = "A: 1\r\nB: 2\r\n\r\n";
  const std::string msg = head + "body";
  for (std::size_t i = 1; i < msg.size(); ++i) {
    run([](std::string msg, std::size_t i, std::string head) -> task<void> {
      memory_stream s{.chunks = {msg.substr(0, i), msg.substr(i)}};
      buffered_reader r(s, 20);
      auto rec = co_await r.read_until("\r\n\r\n", 64);
      CO_ASSERT(rec.has_value());
      EXPECT_EQ(text_of(*rec), head) << "split at " << i;
      // What follows the delimiter is still there, whether buffered yet or not.
      std::array<std::byte, 4> body;
      EXPECT_TRUE(co_await r.read_exact(body));
      EXPECT_EQ(text_of(body), "body");
    }(msg, i, head));
  }
}

TEST_F(buffered_test, PeekLooksAheadWithoutConsuming) {
  run([]() -> task<void> {
    memory_stream s{.chunks = {"\x16", "\x03", "\x01rest"}};
    buffered_reader r(s, 16);
    auto head = co_await r.peek(3);  // three reads, nothing consumed
    CO_ASSERT(head.has_value());
    EXPECT_EQ(text_of(*head), "\x16\x03\x01rest");
    EXPECT_EQ(s.reads, 3u);
    auto too_far = co_await r.peek(17);
    CO_ASSERT(!too_far);
    EXPECT_EQ(too_far.error(), errc::limit_exceeded);
    // At the end, what there is.
    auto all = co_await r.peek(16);
    CO_ASSERT(all.has_value());
    EXPECT_EQ(all->size(), 7u);
    auto line = co_await r.read_until("rest", 16);
    CO_ASSERT(line.has_value());
    EXPECT_EQ(text_of(*line), "\x16\x03\x01rest");
  }());
}

TEST_F(buffered_test, LineOverTheLimitKeepsWhatWasRead) {
  run([]() -> task<void> {
    const std::string line(100, 'x');
    memory_stream s{.chunks = {line.substr(0, 30), line.substr(30), "\nnext\n"}};
    buffered_reader r(s, 256);
    auto l = co_await r.read_line(64);
    CO_ASSERT(!l);
    EXPECT_EQ(l.error(), errc::limit_exceeded);
    EXPECT_EQ(l.error(), std::errc::message_size);
    // Nothing lost: the first 64 (or more) bytes are buffered, and
    // skipping them leaves the stream where it was.
    CO_ASSERT(r.buffered().size() >= 64);
    EXPECT_EQ(text_of(r.buffered()), line.substr(0, r.buffered().size()));
    // A larger limit reads the whole line.
    auto again = co_await r.read_line(200);
    CO_ASSERT(again.has_value());
    EXPECT_EQ(*again, line);
    auto next = co_await r.read_line(64);
    CO_ASSERT(next.has_value());
    EXPECT_EQ(*next, "next");
  }());
}

TEST_F(buffered_test, LimitIsCappedAtTheBuffer) {
  run([]() -> task<void> {
    memory_stream s{.chunks = {std::string(40, 'y') + "\n"}};
    buffered_reader r(s, 32);
    auto l = co_await r.read_line(1000);
    CO_ASSERT(!l);
    EXPECT_EQ(l.error(), errc::limit_exceeded);
    EXPECT_EQ(r.buffered().size(), 32u);
    r.consume(32);
    auto rest = co_await r.read_line(1000);
    CO_ASSERT(rest.has_value());
    EXPECT_EQ(*rest, std::string(8, 'y'));
  }());
}

TEST_F(buffered_test, EndOfStreamBetweenAndInsideLines) {
  run([]() -> task<void> {
    memory_stream s{.chunks = {"one\r\ntail"}};
    buffered_reader r(s);
    EXPECT_EQ(*co_await r.read_line(64), "one");
    auto l = co_await r.read_line(64);
    CO_ASSERT(!l);
    EXPECT_EQ(l.error(), errc::unexpected_eof);
    EXPECT_EQ(text_of(r.buffered()), "tail");
    r.consume(4);
    auto end = co_await r.read_line(64);
    CO_ASSERT(!end);
    EXPECT_EQ(end.error(), errc::end_of_stream);
  }());
}

TEST_F(buffered_test, ReadExactAndReadUseTheBufferThenTheStream) {
  run([]() -> task<void> {
    memory_stream s{.chunks = {"hdr\n0123", "456789abcdefghijklmnopqrstuvwxyz", "!"}};
    buffered_reader r(s, 8);
    EXPECT_EQ(*co_await r.read_line(8), "hdr");
    // 26 bytes: 4 buffered, then more than the buffer straight from the stream.
    std::array<std::byte, 26> exact;
    CO_ASSERT(co_await r.read_exact(exact));
    EXPECT_EQ(text_of(exact), "0123456789abcdefghijklmnop");
    std::array<std::byte, 64> some;
    auto n = co_await r.read(some);
    CO_ASSERT(n.has_value());
    EXPECT_EQ(text_of(std::span(some).first(*n)), "qrstuvwxyz");
    std::array<std::byte, 2> two;
    auto short_read = co_await r.read_exact(two);
    CO_ASSERT(!short_read);
    EXPECT_EQ(short_read.error(), errc::unexpected_eof);
  }());
}

TEST_F(buffered_test, WriterCoalescesSmallWritesAndFlushes) {
  run([]() -> task<void> {
    memory_stream s;
    buffered_writer w(s, 64);
    std::string want;
    for (int i = 0; i < 100; ++i) {
      const std::string piece = "item " + std::to_string(i) + ";";
      want += piece;
      CO_ASSERT(co_await w.write(piece));
    }
    // Sent in buffer-sized batches: no write of a single piece.
    EXPECT_LE(s.write_sizes.size(), want.size() / 50 + 1);
    for (auto n : s.write_sizes) EXPECT_GT(n, 50u);
    CO_ASSERT(co_await w.flush());
    EXPECT_EQ(w.pending(), 0u);
    EXPECT_EQ(s.written, want);
    CO_ASSERT(co_await w.shutdown());
    EXPECT_TRUE(s.shut);
  }());
}

TEST_F(buffered_test, LargeWriteBypassesTheBuffer) {
  run([]() -> task<void> {
    const std::string big(200, 'B');
    memory_stream plain;
    buffered_writer w(plain, 64);
    CO_ASSERT(co_await w.write("head"));
    CO_ASSERT(co_await w.write(big));
    // The buffered bytes, then the large write uncopied, in order.
    EXPECT_EQ(plain.write_sizes, (std::vector<std::size_t>{4, 200}));
    EXPECT_EQ(plain.written, "head" + big);

    gather_memory_stream gather;
    buffered_writer g(gather, 64);
    CO_ASSERT(co_await g.write("head"));
    CO_ASSERT(co_await g.write(big));
    // One gathered write of both.
    EXPECT_EQ(gather.gathers, (std::vector<std::size_t>{2}));
    EXPECT_EQ(gather.write_sizes, (std::vector<std::size_t>{204}));
    EXPECT_EQ(gather.written, "head" + big);
  }());
}

// ---- Over TCP (every backend) ---------------------------------------------

TEST_F(buffered_test, TcpLineSplitAcrossReadsAtEveryPoint) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    (void)client.set_nodelay(true);
    buffered_reader r(server, 32);  // lines wrap around its end
    const std::string msg = "PING some-long-argument\r\n";
    for (std::size_t i = 1; i < msg.size(); ++i) {
      CO_ASSERT(co_await client.write_all(bytes_of(msg).first(i)));
      // The reader has (some of) the first part before the rest is sent.
      auto got = co_await r.fill();
      CO_ASSERT(got && *got > 0);
      CO_ASSERT(co_await client.write_all(bytes_of(msg).subspan(i)));
      auto line = co_await r.read_line(64);
      CO_ASSERT(line.has_value());
      EXPECT_EQ(*line, "PING some-long-argument") << "split at " << i;
    }
  }());
}

TEST_F(buffered_test, TcpLineOverTheLimitStaysBuffered) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    buffered_reader r(server, 64);
    const std::string line = std::string(100, 'z') + "\n";
    CO_ASSERT(co_await client.write_all(line));
    auto l = co_await r.read_line(64);
    CO_ASSERT(!l);
    EXPECT_EQ(l.error(), errc::limit_exceeded);
    // At least the first 64 bytes (in pooled mode, all of the pooled
    // buffer the line arrived in: nothing received is dropped).
    CO_ASSERT(r.buffered().size() >= 64);
    EXPECT_EQ(text_of(r.buffered().first(64)), line.substr(0, 64));
  }());
}

// A writer that sends each line in 3-byte pieces (with Nagle off, many
// small segments) against a reader that takes whole lines: the reader sees
// every line intact, in order, and the stream's end after the last.
TEST_F(buffered_test, TcpSlowWriterFastReader) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    (void)client.set_nodelay(true);
    constexpr int lines = 300;
    auto writer = [](net::tcp_stream& c) -> task<void> {
      for (int i = 0; i < lines; ++i) {
        const std::string line = "line " + std::to_string(i) + "\r\n";
        for (std::size_t at = 0; at < line.size(); at += 3) {
          auto piece = bytes_of(line).subspan(at, std::min<std::size_t>(3, line.size() - at));
          if (!co_await c.write_all(piece)) co_return;
        }
      }
      (void)c.shutdown();
    };
    auto reader = [](net::tcp_stream& s) -> task<int> {
      buffered_reader r(s, 32);
      int i = 0;
      for (;; ++i) {
        auto line = co_await r.read_line(32);
        if (!line) {
          EXPECT_EQ(line.error(), errc::end_of_stream) << line.error().message();
          co_return i;
        }
        EXPECT_EQ(*line, "line " + std::to_string(i));
      }
    };
    auto [unused, count] = co_await when_all(writer(client), reader(server));
    EXPECT_EQ(count, lines);
  }());
}

TEST_F(buffered_test, TcpWriterFlushesToThePeer) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    auto halves = client.split();
    buffered_writer w(halves.writer, 128);
    for (int i = 0; i < 10; ++i) CO_ASSERT(co_await w.write("hello "));
    CO_ASSERT(co_await w.write(std::string(300, 'X')));  // bypasses the buffer
    CO_ASSERT(co_await w.write("end"));
    CO_ASSERT(co_await w.shutdown());  // flushes, then the peer reads its end
    buffered_reader r(server);
    std::string got;
    for (;;) {
      auto n = co_await r.fill();
      CO_ASSERT(n.has_value());
      if (*n == 0) break;
    }
    got = std::string(text_of(r.buffered()));
    std::string want;
    for (int i = 0; i < 10; ++i) want += "hello ";
    EXPECT_EQ(got, want + std::string(300, 'X') + "end");
  }());
}

// A buffered read bounded by with_timeout (a task factory hands the reader
// the timeout's token): it times out, the partial line stays buffered, and
// the reader goes on once the rest arrives.
TEST_F(buffered_test, TimeoutOnABufferedReadKeepsThePartialLine) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    buffered_reader r(server);
    CO_ASSERT(co_await client.write_all(std::string_view("partial")));
    auto line = co_await with_timeout(
        [&r](std::stop_token tok) -> task<result<std::string_view>> {
          r.set_stop_token(std::move(tok));
          co_return co_await r.read_line(64);
        },
        std::chrono::milliseconds(20));
    CO_ASSERT(!line);
    EXPECT_EQ(line.error(), errc::timed_out);
    EXPECT_EQ(text_of(r.buffered()), "partial");
    r.set_stop_token({});
    CO_ASSERT(co_await client.write_all(std::string_view(" line\n")));
    auto rest = co_await r.read_line(64);
    CO_ASSERT(rest);
    EXPECT_EQ(*rest, "partial line");
  }());
}

TEST_F(buffered_test, StopTokenCancelsAPendingBufferedRead) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    buffered_reader r(server);
    std::stop_source stop;
    r.set_stop_token(stop.get_token());
    CO_ASSERT(co_await client.write_all(std::string_view("partial")));
    event holding;
    // Reads until the partial line is buffered, says so, then waits in
    // read_line for a rest that never comes.
    auto reader = [](buffered_reader<net::tcp_stream>& r,
                     event& holding) -> task<result<std::string_view>> {
      while (r.buffered().size() < 7) {
        auto n = co_await r.fill();
        if (!n || *n == 0) co_return fail(n ? make_error_code(errc::unexpected_eof) : n.error());
      }
      holding.set();
      co_return co_await r.read_line(64);
    };
    // The stop lands before read_line's read starts or while it waits:
    // either way the read ends cancelled and the partial line is kept.
    auto stopper = [](std::stop_source& s, event& holding) -> task<void> {
      co_await holding.wait();
      s.request_stop();
    };
    auto [line, unused] = co_await when_all(reader(r, holding), stopper(stop, holding));
    CO_ASSERT(!line);
    EXPECT_EQ(line.error(), std::errc::operation_canceled);
    EXPECT_EQ(text_of(r.buffered()), "partial");
  }());
}

}  // namespace
}  // namespace corio::test
