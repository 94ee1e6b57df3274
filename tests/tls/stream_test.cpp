// tests/tls/stream_test.cpp: tls::stream, corio client against corio server
// in one process, on every backend.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "corio/io/copy.hpp"
#include "corio/tls/stream.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"
#include "tls/certs.hpp"
#include "tls/engine_probe.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;
using tls_stream = corio::tls::stream<net::tcp_stream>;

// copy_bidirectional and the buffered types take a TLS stream as they take
// a TCP one (shutdown() is an awaitable: it sends close_notify).
static_assert(io::duplex_stream<tls_stream>);

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// FNV-1a, 64-bit: a checksum computed piecewise on both sides.
struct checksum {
  std::uint64_t h = 1469598103934665603ull;
  void add(std::span<const std::byte> b) {
    for (auto x : b) h = (h ^ static_cast<std::uint8_t>(x)) * 1099511628211ull;
  }
};

struct tls_pair {
  tls_stream client;
  tls_stream server;
};

class tls_test : public runtime_test {
 protected:
  void SetUp() override {
    runtime_test::SetUp();
    auto probe = corio::tls::context::create(corio::tls::role::client);
    if (!probe) GTEST_SKIP() << "TLS contexts cannot be made here: " << probe.error().message();
    certs = tls::certs();
    if (!certs) GTEST_SKIP() << "no way to make test certificates on this platform";
    // Wine's SChannel cannot serve: every test here has a corio server.
    if (const auto& blocked = tls::server_side_blocked(*certs); !blocked.empty()) {
      GTEST_SKIP() << "this platform's TLS library cannot serve (Wine's SChannel is client-only): "
                   << blocked;
    }
  }

  corio::tls::context server_context(const tls::credentials& cred) {
    auto ctx = corio::tls::context::create(corio::tls::role::server);
    EXPECT_TRUE(ctx);
    EXPECT_TRUE(ctx->use_certificate_chain_pem(cred.cert_pem));
    EXPECT_TRUE(ctx->use_private_key_pem(cred.key_pem));
    return std::move(*ctx);
  }
  corio::tls::context client_context() {
    auto ctx = corio::tls::context::create(corio::tls::role::client);
    EXPECT_TRUE(ctx);
    EXPECT_TRUE(ctx->trust_pem(certs->ca_pem));
    return std::move(*ctx);
  }

  // Connects, wraps both ends and runs both handshakes at once; returns the
  // pair and each side's handshake result.
  struct handshaken {
    tls_pair streams;
    result<void> client_result, server_result;
  };
  static task<handshaken> handshake_pair(const corio::tls::context& server_ctx,
                                         const corio::tls::context& client_ctx,
                                         std::string_view name) {
    auto tcp = co_await connected_pair();
    auto c = tls_stream::client(client_ctx, std::move(tcp.client), name);
    auto s = tls_stream::server(server_ctx, std::move(tcp.server));
    EXPECT_TRUE(c && s);
    handshaken out{{std::move(*c), std::move(*s)}, {}, {}};
    auto hs = [](tls_stream& st, result<void>& r) -> task<void> { r = co_await st.handshake(); };
    co_await when_all(hs(out.streams.client, out.client_result),
                      hs(out.streams.server, out.server_result));
    co_return out;
  }

  const tls::cert_set* certs = nullptr;
};

TEST_F(tls_test, HandshakeThenDataBothWaysWithAlpnAndSni) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  const std::array<std::string_view, 2> server_protos{"h2", "http/1.1"};
  const std::array<std::string_view, 2> client_protos{"http/1.1", "h2"};
  ASSERT_TRUE(server_ctx.set_alpn(server_protos));
  ASSERT_TRUE(client_ctx.set_alpn(client_protos));
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
    CO_ASSERT(p.client_result && p.server_result);
    EXPECT_EQ(p.streams.client.alpn(), "h2");  // the server's preference wins
    EXPECT_EQ(p.streams.server.alpn(), "h2");
#ifndef _WIN32
    EXPECT_EQ(p.streams.server.server_name(), "localhost");  // SChannel does not tell a server
#endif
    auto& [client, server] = p.streams;

    CO_ASSERT(co_await client.write_all(as_bytes("ping")));
    std::array<char, 4> got{};
    CO_ASSERT(co_await server.read_exact(got));
    EXPECT_EQ(std::string_view(got.data(), 4), "ping");
    CO_ASSERT(co_await server.write_all(as_bytes("pong!")));
    std::array<char, 16> back{};
    auto n = co_await client.read(back);
    CO_ASSERT(n);
    EXPECT_EQ(std::string_view(back.data(), *n), "pong!");
  }());
}

TEST_F(tls_test, IpAddressNameIsVerifiedAgainstTheCertificate) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "127.0.0.1");
    EXPECT_TRUE(p.client_result) << p.client_result.error().message();
    EXPECT_TRUE(p.server_result);
  }());
}

// 20 MB through an echoing server while the client writes from one
// coroutine and reads from another on another worker: full duplex on one
// TLS state, checksummed end to end, closed with close_notify both ways.
TEST_F(tls_test, LargeFullDuplexTransferWithChecksumAndCloseNotify) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  constexpr std::size_t total = 20u << 20;
  const auto block = random_bytes(256 * 1024 + 7, 7);
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
    CO_ASSERT(p.client_result && p.server_result);
    auto& [client, server] = p.streams;

    auto echo = [](tls_stream& s) -> task<void> {
      std::vector<std::byte> buf(16 * 1024);
      for (;;) {
        auto n = co_await s.read(buf);
        if (!n) {
          ADD_FAILURE() << "server read: " << n.error().message();
          co_return;
        }
        if (*n == 0) break;  // the client's close_notify
        if (!co_await s.write_all(std::span(buf).first(*n))) co_return;
      }
      EXPECT_TRUE(co_await s.shutdown());
    };
    checksum sent, received;
    std::size_t received_bytes = 0;
    auto writer = [&](corio::tls::write_half w) -> task<void> {
      for (std::size_t done = 0; done < total;) {
        auto chunk = std::span(block).first(std::min(block.size(), total - done));
        sent.add(chunk);
        auto r = co_await w.write_all(chunk);
        if (!r) {
          ADD_FAILURE() << "client write: " << r.error().message();
          co_return;
        }
        done += chunk.size();
      }
      EXPECT_TRUE(co_await w.shutdown());
    };
    auto reader = [&](corio::tls::read_half r) -> task<void> {
      std::vector<std::byte> buf(64 * 1024);
      for (;;) {
        auto n = co_await r.read(buf);
        if (!n) {
          ADD_FAILURE() << "client read: " << n.error().message();
          co_return;
        }
        if (*n == 0) co_return;  // the server's close_notify
        received.add(std::span(buf).first(*n));
        received_bytes += *n;
      }
    };
    auto halves = client.split();
    scope s;
    s.spawn(echo(server));
    s.spawn(reader(halves.reader));  // spawn: any worker, so the halves may run on two threads
    s.spawn(writer(halves.writer));
    co_await s.join();
    EXPECT_EQ(received_bytes, total);
    EXPECT_EQ(received.h, sent.h);
  }(), 60s);
}

TEST_F(tls_test, EofWithoutCloseNotifyIsTruncationNotAnEnd) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
    CO_ASSERT(p.client_result && p.server_result);
    CO_ASSERT(co_await p.streams.server.write_all(as_bytes("partial")));
    // A plain TCP FIN, no close_notify: what a cut connection looks like.
    CO_ASSERT(p.streams.server.next_layer().shutdown());
    std::array<char, 64> buf{};
    auto n = co_await p.streams.client.read(buf);
    CO_ASSERT(n);
    EXPECT_EQ(std::string_view(buf.data(), *n), "partial");  // data before the cut still arrives
    n = co_await p.streams.client.read(buf);
    CO_ASSERT(!n);
    EXPECT_EQ(n.error(), corio::tls::errc::truncated) << n.error().message();
  }());
}

// The peer resets the connection with records still on the way (the last
// one cut in the middle, or all of them dropped): the reader ends with the
// reset, never with a clean end or a short read passed off as data.
TEST_F(tls_test, ResetInTheMiddleOfRecordsIsAnError) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  const std::vector<std::byte> data(48u << 20, std::byte{0x5a});
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
    CO_ASSERT(p.client_result && p.server_result);
    // More than the socket buffers hold: the server's write fills them and
    // waits for a client that reads only after the write was abandoned and
    // the connection reset.
    (void)co_await with_timeout(p.streams.server.write_all(data), 50ms);
    abort_connection(p.streams.server.next_layer());
    std::vector<std::byte> buf(64 * 1024);
    std::size_t total = 0;
    result<std::size_t> n;
    for (;;) {
      n = co_await p.streams.client.read(buf);
      if (!n || *n == 0) break;
      total += *n;
    }
    CO_ASSERT(!n);
    EXPECT_LT(total, data.size());
    EXPECT_EQ(n.error(), std::errc::connection_reset) << n.error().message();
  }());
}

TEST_F(tls_test, WrongHostNameIsRefused) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "not-localhost.example");
    CO_ASSERT(!p.client_result);
    EXPECT_EQ(p.client_result.error(), corio::tls::errc::host_name_mismatch)
        << p.client_result.error().message() << ": " << p.streams.client.failure_detail();
    EXPECT_FALSE(p.server_result);  // the client's alert ends the server's handshake too
  }());
}

TEST_F(tls_test, SelfSignedIsRefusedUnlessTrusted) {
  auto server_ctx = server_context(certs->self_signed);
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
    CO_ASSERT(!p.client_result);
    EXPECT_EQ(p.client_result.error(), corio::tls::errc::certificate_rejected)
        << p.client_result.error().message();
  }());
  auto trusting = client_context();
  ASSERT_TRUE(trusting.trust_pem(certs->self_signed.cert_pem));
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, trusting, "localhost");
    EXPECT_TRUE(p.client_result) << p.client_result.error().message();
  }());
}

TEST_F(tls_test, ExpiredCertificateIsRefused) {
  auto server_ctx = server_context(certs->expired);
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
    CO_ASSERT(!p.client_result);
    EXPECT_EQ(p.client_result.error(), corio::tls::errc::certificate_rejected);
    EXPECT_NE(p.streams.client.failure_detail().find("expired"), std::string_view::npos)
        << p.streams.client.failure_detail();
  }());
}

TEST_F(tls_test, VerificationOffAcceptsAnyCertificate) {
  auto server_ctx = server_context(certs->self_signed);
  auto client_ctx = client_context();
  client_ctx.set_verify_peer(false);
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "wrong.example");
    EXPECT_TRUE(p.client_result && p.server_result);
  }());
}

TEST_F(tls_test, ClientResumesItsSession) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    for (int i = 0; i < 2; ++i) {
      auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
      CO_ASSERT(p.client_result && p.server_result);
      EXPECT_EQ(p.streams.client.resumed(), i == 1);
      // TLS 1.3 sends the session ticket after the handshake: read it with
      // a round trip, then close properly.
      CO_ASSERT(co_await p.streams.client.write_all(as_bytes("x")));
      std::array<char, 1> one{};
      CO_ASSERT(co_await p.streams.server.read_exact(one));
      CO_ASSERT(co_await p.streams.server.write_all(as_bytes("y")));
      CO_ASSERT(co_await p.streams.client.read_exact(one));
      CO_ASSERT(co_await p.streams.client.shutdown());
      CO_ASSERT(co_await p.streams.server.shutdown());
    }
  }());
}

TEST_F(tls_test, StalledHandshakeIsCutOffByItsTimeout) {
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto tcp = co_await connected_pair();  // the server end never answers
    auto c = tls_stream::client(client_ctx, std::move(tcp.client), "localhost");
    CO_ASSERT(c);
    auto r = co_await with_timeout(c->handshake(), 100ms);
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::timed_out) << r.error().message();
  }());
}

TEST_F(tls_test, HandshakeIsCancelledByStop) {
  auto server_ctx = server_context(certs->server);
  run([&]() -> task<void> {
    auto tcp = co_await connected_pair();  // the client end never speaks
    auto s = tls_stream::server(server_ctx, std::move(tcp.server));
    CO_ASSERT(s);
    std::stop_source stop;
    auto stopper = [&]() -> task<void> {
      co_await sleep_for(20ms);
      stop.request_stop();
    };
    result<void> r;
    auto handshake = [&]() -> task<void> { r = co_await with_stop(s->handshake(), stop.get_token()); };
    co_await when_all(handshake(), stopper());
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), std::errc::operation_canceled) << r.error().message();
  }());
}

TEST_F(tls_test, GarbageInsteadOfClientHelloIsAClearError) {
  auto server_ctx = server_context(certs->server);
  run([&]() -> task<void> {
    auto tcp = co_await connected_pair();
    auto s = tls_stream::server(server_ctx, std::move(tcp.server));
    CO_ASSERT(s);
    CO_ASSERT(co_await tcp.client.write_all(as_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
    auto r = co_await s->handshake();
    CO_ASSERT(!r);
    EXPECT_EQ(r.error(), corio::tls::errc::handshake_failed) << r.error().message();
    EXPECT_FALSE(s->failure_detail().empty());
  }());
}

TEST_F(tls_test, PeerThatHangsUpDuringTheHandshakeIsTruncation) {
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto tcp = co_await connected_pair();
    auto c = tls_stream::client(client_ctx, std::move(tcp.client), "localhost");
    CO_ASSERT(c);
    tcp.server.close();
    auto r = co_await c->handshake();
    CO_ASSERT(!r);
    EXPECT_TRUE(r.error() == corio::tls::errc::truncated ||
                r.error() == std::errc::connection_reset)
        << r.error().message();
  }());
}

TEST_F(tls_test, SecondConcurrentReadIsRefused) {
  auto server_ctx = server_context(certs->server);
  auto client_ctx = client_context();
  run([&]() -> task<void> {
    auto p = co_await handshake_pair(server_ctx, client_ctx, "localhost");
    CO_ASSERT(p.client_result && p.server_result);
    std::array<char, 8> a{}, b{};
    result<std::size_t> first, second;
    auto read_into = [](tls_stream& s, std::span<char> buf, result<std::size_t>& out) -> task<void> {
      out = co_await s.read(buf);
    };
    auto second_then_write = [&]() -> task<void> {
      // when_all starts its children in no promised order (schedule shaking
      // runs this one first at times): let the first reach its read.
      co_await yield();
      co_await read_into(p.streams.client, b, second);  // refused at once: the first is in flight
      (void)co_await p.streams.server.write_all(as_bytes("data"));
    };
    co_await when_all(read_into(p.streams.client, a, first), second_then_write());
    CO_ASSERT(first && !second);
    EXPECT_EQ(second.error(), corio::errc::concurrent_operation);
  }());
}

TEST_F(tls_test, MissingKeyIsABadCredential) {
  auto ctx = corio::tls::context::create(corio::tls::role::server);
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->use_private_key_pem("not a key").error(), corio::tls::errc::bad_credentials);
  EXPECT_EQ(ctx->trust_file("/nonexistent/ca.pem").error(), corio::tls::errc::bad_credentials);
}

}  // namespace
}  // namespace corio::test
