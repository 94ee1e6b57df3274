// tests/io/buffered_pooled_test.cpp: buffered_reader in pooled mode, over
// TCP, where it reads with read_pooled and holds no buffer while it waits.
// Records split across pooled buffers (16 KiB each), records longer than a
// pooled buffer, every way a read can fail with data kept, and stops.
// As in tests/net/pooled_read_test.cpp, on io_uring each test runs with the
// default buffer ring, a ring of 4 buffers and no ring
// (CORIO_TEST_URING_BUFFER_RING); epoll and IOCP read through their pool:
// they run the first variant and skip the others.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "corio/io/buffered_reader.hpp"
#include "corio/sync/event.hpp"
#include "io/memory_stream.hpp"
#include "support/loopback.hpp"
#include "support/ring_variants.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using io::buffered_reader;

constexpr std::size_t pooled_size = corio::detail::pooled_buffer_size;

// Pooled mode over TCP streams and their read halves; not over other
// streams, nor with storage the caller lends.
static_assert(io::pooled_readable_stream<net::tcp_stream>);
static_assert(io::pooled_readable_stream<net::read_half>);
static_assert(!io::pooled_readable_stream<memory_stream>);
static_assert(!io::pooled_readable_stream<buffered_reader<net::tcp_stream>>);

class buffered_pooled_test : public ring_variant_test {};

// The peer's side: sends `data` (a string or bytes, kept in this frame),
// then shuts its sending side.
template <class Bytes>
task<void> send_then_shut(net::tcp_stream& c, Bytes data) {
  EXPECT_TRUE(co_await c.write_all(data));
  EXPECT_TRUE(c.shutdown());
}

// `count` lines "<i> xxx...": lengths vary from 1 to 199 bytes, so lines
// straddle the 16 KiB ends of the pooled buffers at varying points.
std::vector<std::string> numbered_lines(int count) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i)
    lines.push_back(std::to_string(i) + " " + std::string(static_cast<std::size_t>(i * 37 % 190), 'x'));
  return lines;
}
std::string joined(const std::vector<std::string>& lines, std::string_view ending) {
  std::string all;
  for (const auto& l : lines) (all += l) += ending;
  return all;
}

TEST_P(buffered_pooled_test, ReadsInPooledModeUnlessStorageIsLent) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    buffered_reader pooled(server);
    EXPECT_TRUE(pooled.pooled());
    EXPECT_EQ(pooled.memory_held(), 0u) << "nothing is taken before data arrives";
    std::array<std::byte, 64> storage;
    buffered_reader lent(server, storage);
    EXPECT_FALSE(lent.pooled());
    EXPECT_EQ(lent.memory_held(), 0u) << "the caller's storage is not the reader's";
    co_return;
  }());
}

// Many short lines sent at once lie in one pooled buffer: served from it
// (no own storage taken), then the buffer goes back.
TEST_P(buffered_pooled_test, ManySmallLinesFromOneBuffer) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::vector<std::string> lines;
    for (int i = 0; i < 1000; ++i) lines.push_back("line " + std::to_string(i));
    const std::string all = joined(lines, "\r\n");
    CO_ASSERT(all.size() < pooled_size);
    CO_ASSERT(co_await client.write_all(all));  // one send: one read takes it all
    CO_ASSERT(client.shutdown());
    buffered_reader r(server, 256);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      auto line = co_await r.read_line(256);
      CO_ASSERT(line);
      EXPECT_EQ(*line, lines[i]);
      EXPECT_EQ(r.memory_held(), pooled_size) << "line " << i << ": only the pooled buffer";
    }
    auto end = co_await r.read_line(256);
    CO_ASSERT(!end);
    EXPECT_EQ(end.error(), errc::end_of_stream);
    EXPECT_EQ(r.memory_held(), 0u);
  }());
}

// 100 KiB of lines of every length: some straddle the end of a pooled
// buffer, whose start is kept in own storage until the next read brings
// the rest.
TEST_P(buffered_pooled_test, LinesSpanningTwoPooledBuffers) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    const auto lines = numbered_lines(1000);
    const std::string all = joined(lines, "\n");
    CO_ASSERT(all.size() > 5 * pooled_size);
    scope s;
    s.spawn_local(send_then_shut(client, all));
    buffered_reader r(server, 256);
    std::size_t i = 0;
    for (;; ++i) {
      auto line = co_await r.read_line(256);
      if (!line) {
        EXPECT_EQ(line.error(), errc::end_of_stream) << line.error().message();
        break;
      }
      CO_ASSERT(i < lines.size());
      EXPECT_EQ(*line, lines[i]);
    }
    EXPECT_EQ(i, lines.size());
    EXPECT_EQ(r.memory_held(), 0u) << "at the end, nothing is held";
    co_await s.join();
  }());
}

// A record longer than a pooled buffer, within capacity: assembled in own
// storage over several reads, then the records after it.
TEST_P(buffered_pooled_test, RecordLongerThanAPooledBuffer) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::string big(40 * 1024, 'b');
    for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
    const std::string all = big + "\r\n\r\nshort\r\n\r\n";
    scope s;
    s.spawn_local(send_then_shut(client, all));
    buffered_reader r(server, 64 * 1024);
    auto rec = co_await r.read_until("\r\n\r\n", 64 * 1024);
    CO_ASSERT(rec);
    EXPECT_TRUE(text_of(*rec) == big + "\r\n\r\n") << "a record of " << rec->size() << " bytes";
    auto next = co_await r.read_until("\r\n\r\n", 64 * 1024);
    CO_ASSERT(next);
    EXPECT_EQ(text_of(*next), "short\r\n\r\n");
    auto end = co_await r.read_until("\r\n\r\n", 64 * 1024);
    CO_ASSERT(!end);
    EXPECT_EQ(end.error(), errc::end_of_stream);
    co_await s.join();
  }());
}

// No delimiter within the limit: errc::limit_exceeded, and every byte
// received is still there: in buffered() and, once that is consumed, after
// it.
TEST_P(buffered_pooled_test, LimitExceededKeepsEveryByte) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    const auto noise = random_bytes(40 * 1024, 3);
    std::string sent(reinterpret_cast<const char*>(noise.data()), noise.size());
    for (char& c : sent)
      if (c == '\n') c = ' ';
    // A first short line, so that the long one starts mid-buffer.
    const std::string all = "first\n" + sent + "\nafter\n";
    scope s;
    s.spawn_local(send_then_shut(client, all));
    buffered_reader r(server, 1000);
    auto first = co_await r.read_line(4096);
    CO_ASSERT(first);
    EXPECT_EQ(*first, "first");
    auto line = co_await r.read_line(4096);  // capped at capacity(): 1000
    CO_ASSERT(!line);
    EXPECT_EQ(line.error(), errc::limit_exceeded);
    CO_ASSERT(r.buffered().size() >= 1000);
    EXPECT_EQ(text_of(r.buffered().first(1000)), std::string_view(sent).substr(0, 1000));
    // Skip the long line as a server would, byte by byte through consume.
    std::string skipped;
    while (skipped.size() < sent.size()) {
      if (r.buffered().empty()) {
        auto n = co_await r.fill();
        CO_ASSERT(n && *n > 0);
      }
      const auto b = r.buffered().first(std::min(r.buffered().size(), sent.size() - skipped.size()));
      skipped += text_of(b);
      r.consume(b.size());
    }
    EXPECT_TRUE(skipped == sent) << "the long line came back whole";
    auto empty = co_await r.read_line(64);  // the long line's ending
    CO_ASSERT(empty);
    EXPECT_EQ(*empty, "");
    auto after = co_await r.read_line(64);
    CO_ASSERT(after);
    EXPECT_EQ(*after, "after");
    co_await s.join();
  }());
}

// The stream ends inside a line: errc::unexpected_eof, the line buffered;
// also when that line spans pooled buffers.
TEST_P(buffered_pooled_test, EndOfStreamMidLineKeepsTheLine) {
  for (const std::size_t tail : {std::size_t{7}, std::size_t{3 * pooled_size / 2}}) {
    run([](std::size_t tail) -> task<void> {
      auto [client, server] = co_await connected_pair();
      const std::string partial(tail, 'p');
      scope s;
      s.spawn_local(send_then_shut(client, "a\nb\n" + partial));
      buffered_reader r(server, 32 * 1024);
      auto a = co_await r.read_line(32 * 1024);
      auto b = co_await r.read_line(32 * 1024);
      CO_ASSERT(a && b);
      EXPECT_EQ(*a, "a");
      EXPECT_EQ(*b, "b");
      auto last = co_await r.read_line(32 * 1024);
      CO_ASSERT(!last);
      EXPECT_EQ(last.error(), errc::unexpected_eof) << "a tail of " << tail << " bytes";
      EXPECT_TRUE(text_of(r.buffered()) == partial)
          << "kept " << r.buffered().size() << " of " << tail << " bytes";
      co_await s.join();
    }(tail));
  }
}

// read_exact across pooled buffers: in pieces smaller than capacity (through
// the buffer) and larger (straight into the caller's span), after a line.
TEST_P(buffered_pooled_test, ReadExactAcrossBuffers) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    const auto body = random_bytes(100 * 1024, 11);
    std::vector<std::byte> all;
    for (char c : std::string_view("header\n")) all.push_back(static_cast<std::byte>(c));
    all.insert(all.end(), body.begin(), body.end());
    scope s;
    s.spawn_local(send_then_shut(client, all));
    buffered_reader r(server, 8192);
    auto header = co_await r.read_line(64);
    CO_ASSERT(header);
    EXPECT_EQ(*header, "header");
    std::vector<std::byte> got(body.size());
    std::size_t at = 0;
    // 5,000-byte pieces (buffered), one of 40,000 (past the buffer), then
    // 5,000-byte pieces to the end.
    while (at < got.size()) {
      const std::size_t n = std::min<std::size_t>(at == 20000 ? 40000 : 5000, got.size() - at);
      auto ok = co_await r.read_exact(std::span(got).subspan(at, n));
      CO_ASSERT(ok);
      at += n;
    }
    EXPECT_TRUE(got == body);
    std::array<std::byte, 1> more;
    auto end = co_await r.read_exact(more);
    CO_ASSERT(!end);
    EXPECT_EQ(end.error(), errc::unexpected_eof);
    co_await s.join();
  }());
}

// A stop while the reader waits for data: the read is cancelled, and the
// reader held no buffer while it waited (a whole line read before it was
// served and its buffer given back; a partial line is kept in own storage).
TEST_P(buffered_pooled_test, StopWhileWaitingHoldsNoBuffer) {
  for (const bool partial : {false, true}) {
    run([](bool partial) -> task<void> {
      auto [client, server] = co_await connected_pair();
      buffered_reader r(server);
      std::stop_source stop;
      r.set_stop_token(stop.get_token());
      CO_ASSERT(co_await client.write_all(std::string_view(partial ? "one\ntw" : "one\n")));
      auto one = co_await r.read_line(64);
      CO_ASSERT(one);
      EXPECT_EQ(*one, "one");
      event waiting;
      auto reader = [](buffered_reader<net::tcp_stream>& r,
                       event& waiting) -> task<result<std::string_view>> {
        waiting.set();
        co_return co_await r.read_line(64);
      };
      auto stopper = [](std::stop_source& s, event& waiting) -> task<void> {
        co_await waiting.wait();
        s.request_stop();
      };
      auto [line, unused] = co_await when_all(reader(r, waiting), stopper(stop, waiting));
      CO_ASSERT(!line);
      EXPECT_EQ(line.error(), std::errc::operation_canceled);
      if (partial) {
        EXPECT_EQ(text_of(r.buffered()), "tw");
        EXPECT_EQ(r.memory_held(), pooled_size) << "the partial line, in own storage, only";
      } else {
        EXPECT_TRUE(r.buffered().empty());
        EXPECT_EQ(r.memory_held(), 0u) << "an idle reader holds no buffer";
      }
      // The reader goes on after the stop.
      r.set_stop_token({});
      CO_ASSERT(co_await client.write_all(std::string_view("o\n")));
      auto next = co_await r.read_line(64);
      CO_ASSERT(next);
      EXPECT_EQ(*next, partial ? "two" : "o");
    }(partial));
  }
}

// Many idle connections (more than a four-buffer ring has buffers), each
// reader waiting after a line: none holds a buffer, so none starves the
// others; each then reads its next line.
TEST_P(buffered_pooled_test, IdleReadersHoldNoBuffers) {
  run([]() -> task<void> {
    constexpr int n = 16;
    std::vector<net::tcp_stream> clients, servers;
    for (int i = 0; i < n; ++i) {
      auto [c, s] = co_await connected_pair();
      clients.push_back(std::move(c));
      servers.push_back(std::move(s));
    }
    std::vector<buffered_reader<net::tcp_stream>> readers;
    for (auto& s : servers) readers.emplace_back(s);
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < n; ++i) {
        const std::string line = "r" + std::to_string(round) + " c" + std::to_string(i) + "\n";
        CO_ASSERT(co_await clients[static_cast<std::size_t>(i)].write_all(line));
      }
      std::size_t held = 0;
      for (int i = 0; i < n; ++i) {
        auto& r = readers[static_cast<std::size_t>(i)];
        auto line = co_await r.read_line(64);
        CO_ASSERT(line);
        EXPECT_EQ(*line, "r" + std::to_string(round) + " c" + std::to_string(i));
        r.consume(0);  // settles: the emptied buffer goes back now
        held += r.memory_held();
      }
      EXPECT_EQ(held, 0u) << "round " << round << ": buffers held by readers with nothing buffered";
    }
  }());
}

INSTANTIATE_TEST_SUITE_P(Rings, buffered_pooled_test, ::testing::ValuesIn(ring_variants),
                         ring_variant_name);

}  // namespace
}  // namespace corio::test
