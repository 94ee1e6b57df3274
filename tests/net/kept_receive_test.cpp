// tests/net/kept_receive_test.cpp: the receive that read_pooled keeps
// between reads on io_uring (one multishot recv per socket): order when the
// receive runs ahead of its reader and plain reads mix in, a stream moved
// to another worker, release(), and a receive still armed when its runtime
// ends. Run on every ring variant (tests/support/ring_variants.hpp), so the
// same behaviour is checked with one recv per read and on epoll and IOCP.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/loopback.hpp"
#include "support/ring_variants.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

std::string_view text(const io::pooled_buffer& b) {
  return {reinterpret_cast<const char*>(b.bytes().data()), b.size()};
}

class kept_receive_test : public ring_variant_test {
 protected:
  // Whether read_pooled keeps a receive armed in this variant.
  bool keeps_receive() const {
    const bool ring = GetParam().entries == nullptr || std::string_view(GetParam().entries) != "0";
    return rt_->backend() == backend_kind::io_uring && !GetParam().single_shot && ring;
  }
};

// 300 KiB arrive while the reader holds back, so the kept receive fills its
// queue and stops; then read_pooled, plain reads of odd sizes and waits for
// readability take turns to the end: every byte once, in order.
TEST_P(kept_receive_test, ReaderFarBehindMixingReadKindsLosesNothing) {
  run([]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    const auto body = random_bytes(300 * 1024, 23);
    scope s;
    s.spawn_local([](net::tcp_stream& client, const std::vector<std::byte>& body) -> task<void> {
      EXPECT_TRUE(co_await client.write_all(std::span(body)));
      EXPECT_TRUE(client.shutdown());
    }(client, body));
    std::vector<std::byte> got;
    // The first read arms the receive; the turns after it let it run ahead.
    auto first = co_await server.read_pooled();
    CO_ASSERT(first);
    got.insert(got.end(), first->bytes().begin(), first->bytes().end());
    for (int i = 0; i < 64; ++i) co_await yield();
    std::vector<std::byte> small(777), large(20000);
    for (int turn = 0;; ++turn) {
      std::size_t n = 0;
      if (turn % 3 == 0) {
        auto b = co_await server.read_pooled();
        CO_ASSERT(b);
        got.insert(got.end(), b->bytes().begin(), b->bytes().end());
        n = b->size();
      } else {
        if (turn % 3 == 2) {
          CO_ASSERT(co_await server.wait_readable());
        }
        auto& buf = turn % 3 == 1 ? small : large;
        auto r = co_await server.read(std::span(buf));
        CO_ASSERT(r);
        got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
        n = *r;
      }
      if (n == 0) break;
      CO_ASSERT(got.size() <= body.size());
    }
    EXPECT_EQ(got.size(), body.size());
    EXPECT_TRUE(got == body);
    co_await s.join();
  }());
}

// A stream read on one worker, then on another: the second worker's reads
// are served in order, first by the receive the first worker armed, then
// by its own. On IOCP a spawn sent to another worker is a packet that any
// worker may dequeue, the spawning one included, so the move cannot be
// forced there; its completions run on any worker anyway, and the reads
// are checked wherever they land.
TEST_P(kept_receive_test, StreamMovedToAnotherWorkerReadsInOrder) {
  const bool pinned = rt_->backend() != backend_kind::iocp;
  run([pinned]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    CO_ASSERT(co_await client.write_all(std::string_view("one")));
    auto one = co_await server.read_pooled();
    CO_ASSERT(one);
    EXPECT_EQ(text(*one), "one");
    const auto here = std::this_thread::get_id();
    bool moved = false;
    // Spawned tasks go round the workers: a few tries land on the other one.
    // (Where spawns are not pinned, the first try runs wherever it lands.)
    for (int attempt = 0; attempt < 16 && !moved; ++attempt) {
      scope s;
      s.spawn([](net::tcp_stream& client, net::tcp_stream& server, std::thread::id here,
                 bool pinned, bool& moved) -> task<void> {
        if (pinned && std::this_thread::get_id() == here) co_return;
        moved = true;
        // A read that waits here while the receive is armed over there.
        scope inner;
        std::string first;
        inner.spawn_local([](net::tcp_stream& server, std::string& first) -> task<void> {
          auto b = co_await server.read_pooled();
          if (b) first = text(*b);
        }(server, first));
        co_await yield();
        EXPECT_TRUE(co_await client.write_all(std::string_view("two")));
        co_await inner.join();
        EXPECT_EQ(first, "two");
        for (const std::string_view word : {"three", "four", "five"}) {
          EXPECT_TRUE(co_await client.write_all(word));
          auto b = co_await server.read_pooled();
          EXPECT_TRUE(b);
          if (b) {
            EXPECT_EQ(text(*b), word);
          }
        }
      }(client, server, here, pinned, moved));
      co_await s.join();
    }
    CO_ASSERT(moved);
    CO_ASSERT(co_await client.write_all(std::string_view("six")));
    std::array<char, 8> buf{};
    auto r = co_await server.read(std::span(buf));
    CO_ASSERT(r);
    EXPECT_EQ(std::string_view(buf.data(), *r), "six");
  }());
}

// release() gives the socket up only when nothing reads from it: after
// read_pooled on io_uring the kept receive does, so it is refused, and the
// stream stays open and usable.
TEST_P(kept_receive_test, ReleaseIsRefusedWhileAReceiveIsKept) {
  run([this]() -> task<void> {
    auto [client, server] = co_await connected_pair();
    CO_ASSERT(co_await client.write_all(std::string_view("hello")));
    auto got = co_await server.read_pooled();
    CO_ASSERT(got);
    const auto h = server.release();
    if (keeps_receive()) {
      EXPECT_EQ(h, detail::invalid_socket);
      CO_ASSERT(server.is_open());
      CO_ASSERT(co_await client.write_all(std::string_view("again")));
      auto again = co_await server.read_pooled();
      CO_ASSERT(again);
      EXPECT_EQ(text(*again), "again");
    } else {
      CO_ASSERT(h != detail::invalid_socket);
      EXPECT_FALSE(server.is_open());
      auto adopted = net::tcp_stream::adopt(h);
      CO_ASSERT(adopted);
    }
  }());
}

// A runtime that ends while a stream's receive is armed lets the receive go:
// the stream, closed after the runtime, is closed and freed (the count of
// open sockets falls by both ends; ASan: no leak).
TEST_P(kept_receive_test, ReceiveArmedWhenItsRuntimeEnds) {
  std::optional<stream_pair> kept;
  {
    auto other = make_variant_runtime();
    test::run(*other, [](std::optional<stream_pair>& kept) -> task<void> {
      auto pair = co_await connected_pair();
      EXPECT_TRUE(co_await pair.client.write_all(std::string_view("x")));
      auto got = co_await pair.server.read_pooled();
      EXPECT_TRUE(got);
      kept.emplace(std::move(pair));
    }(kept));
  }
  ASSERT_TRUE(kept);
  const auto before = rt_->metrics().sockets_open;
  kept.reset();
  EXPECT_EQ(rt_->metrics().sockets_open, before - 2);
}

INSTANTIATE_TEST_SUITE_P(Rings, kept_receive_test, ::testing::ValuesIn(ring_variants),
                         ring_variant_name);

}  // namespace
}  // namespace corio::test
