// tests/tls/peer_test.cpp: a corio TLS client against peers the test wrapper
// started outside the process (tests/tls/schannel_wine.sh: `openssl
// s_server` and tests/tls/tls_peer.py on the Linux side, while this binary
// runs under Wine on IOCP with SChannel). The wrapper passes their ports and
// the certificates' folder by environment; without them the tests skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>
#include <string_view>

#include "corio/tls/stream.hpp"
#include "support/run.hpp"
#include "tls/certs.hpp"

namespace corio::test {
namespace {

using tls_stream = corio::tls::stream<net::tcp_stream>;

// CO_ASSERT with a message: records the failure and leaves the task<void>.
#define CO_CHECK(cond, message)                              \
  if (!(cond)) {                                             \
    ADD_FAILURE() << "failed: " #cond << ": " << message;   \
    co_return;                                               \
  } else                                                     \
    (void)0

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::uint16_t port_from_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? static_cast<std::uint16_t>(std::atoi(v)) : 0;
}

class tls_peer : public runtime_test {
 protected:
  void SetUp() override {
    runtime_test::SetUp();
    certs = tls::certs();
    echo_port = port_from_env("CORIO_TLS_PEER_ECHO");
    if (!certs || echo_port == 0) {
      GTEST_SKIP() << "no peers: run through tests/tls/schannel_wine.sh (CORIO_TLS_PEER_ECHO, "
                      "CORIO_TLS_TEST_CERTS)";
    }
  }
  corio::tls::context client_context() {
    auto ctx = corio::tls::context::create(corio::tls::role::client);
    EXPECT_TRUE(ctx) << ctx.error().message();
    EXPECT_TRUE(ctx->trust_file(certs->ca_file.c_str()));
    return std::move(*ctx);
  }
  // Connects to `port` and runs the handshake for `name`; the stream and
  // the handshake's result.
  struct connected {
    result<tls_stream> stream;
    result<void> handshake;
    std::string detail;
  };
  static task<connected> connect(const corio::tls::context& ctx, std::uint16_t port,
                                 std::string_view name) {
    connected out{fail(std::errc::not_connected), {}, {}};
    auto tcp = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
    if (!tcp) {
      out.stream = fail(tcp.error());
      co_return out;
    }
    out.stream = tls_stream::client(ctx, std::move(*tcp), name);
    if (!out.stream) co_return out;
    out.handshake = co_await with_timeout(out.stream->handshake(), std::chrono::seconds(20));
    out.detail = out.stream->failure_detail();
    co_return out;
  }

  const tls::cert_set* certs = nullptr;
  std::uint16_t echo_port = 0;
};

// `openssl s_server -rev -alpn echo`: ALPN agreed, a line each way, and the
// server's close_notify (its answer to CLOSE) read as an orderly end.
TEST_F(tls_peer, HandshakeAlpnDataAndTheServersCloseNotify) {
  auto ctx = client_context();
  const std::array<std::string_view, 2> alpn{"h2", "echo"};
  ASSERT_TRUE(ctx.set_alpn(alpn));
  run([&]() -> task<void> {
    auto c = co_await connect(ctx, echo_port, "localhost");
    CO_ASSERT(c.stream);
    CO_CHECK(c.handshake, c.handshake.error().message() << ": " << c.detail);
    EXPECT_EQ(c.stream->alpn(), "echo");
    CO_ASSERT(co_await c.stream->write_all(as_bytes("hello corio\n")));
    std::array<char, 12> got{};
    CO_ASSERT(co_await c.stream->read_exact(got));
    EXPECT_EQ(std::string_view(got.data(), got.size()), "oiroc olleh\n");
    CO_ASSERT(co_await c.stream->write_all(as_bytes("CLOSE\n")));
    std::array<char, 256> rest{};
    for (;;) {
      auto n = co_await c.stream->read(rest);
      CO_CHECK(n, n.error().message() << ": " << c.stream->failure_detail());
      if (*n == 0) break;
    }
  }(), std::chrono::seconds(60));
}

// 512 KiB of lines through s_server -rev while reading its answers from
// another coroutine (full duplex on one SChannel context); every line back,
// reversed.
TEST_F(tls_peer, FullDuplexLinesBothDirections) {
  auto ctx = client_context();
  constexpr std::size_t lines = 8192;
  auto line = [](std::size_t i) {
    std::string s(63, 'a');
    for (std::size_t k = 0; k < s.size(); ++k) s[k] = static_cast<char>('a' + (i * 7 + k * 3) % 26);
    return s;
  };
  run([&]() -> task<void> {
    auto c = co_await connect(ctx, echo_port, "localhost");
    CO_ASSERT(c.stream && c.handshake);
    auto [reader, writer] = c.stream->split();
    auto write_side = [&]() -> task<void> {
      std::string batch;
      for (std::size_t i = 0; i < lines; ++i) {
        batch += line(i);
        batch += '\n';
        if (batch.size() >= 16 * 1024 || i + 1 == lines) {
          auto w = co_await writer.write_all(as_bytes(batch));
          CO_CHECK(w, w.error().message());
          batch.clear();
        }
      }
    };
    std::size_t good = 0;
    auto read_side = [&]() -> task<void> {
      std::string pending;
      std::array<char, 16 * 1024> buf{};
      std::size_t i = 0;
      while (i < lines) {
        auto n = co_await reader.read(buf);
        CO_CHECK(n && *n > 0, (n ? "end" : n.error().message()));
        pending.append(buf.data(), *n);
        std::size_t at;
        while ((at = pending.find('\n')) != std::string::npos) {
          std::string want = line(i++);
          std::reverse(want.begin(), want.end());
          if (pending.compare(0, at, want) == 0) ++good;
          pending.erase(0, at + 1);
        }
      }
    };
    co_await when_all(write_side(), read_side());
    EXPECT_EQ(good, lines);
    CO_ASSERT(co_await c.stream->write_all(as_bytes("CLOSE\n")));
  }(), std::chrono::seconds(90));
}

// Our close_notify reaches the peer (tests/tls/tls_peer.py answers a clean
// close with its own close_notify, a bare EOF with nothing), and its
// close_notify ends our read with 0.
TEST_F(tls_peer, CloseNotifyEachWay) {
  const auto port = port_from_env("CORIO_TLS_PEER_CLOSE_NOTIFY");
  if (port == 0) GTEST_SKIP() << "CORIO_TLS_PEER_CLOSE_NOTIFY not set";
  auto ctx = client_context();
  run([&]() -> task<void> {
    auto c = co_await connect(ctx, port, "localhost");
    CO_ASSERT(c.stream);
    CO_CHECK(c.handshake, c.handshake.error().message() << ": " << c.detail);
    CO_ASSERT(co_await c.stream->write_all(as_bytes("some data before the end")));
    CO_ASSERT(co_await c.stream->shutdown());
    std::array<char, 256> buf{};
    std::string got;
    for (;;) {
      auto n = co_await c.stream->read(buf);
      CO_CHECK(n, n.error().message() << ": " << c.stream->failure_detail());
      if (*n == 0) break;
      got.append(buf.data(), *n);
    }
    EXPECT_EQ(got, "clean close after 24 bytes");
  }(), std::chrono::seconds(60));
}

// The peer sends a few bytes and closes its socket without close_notify:
// the data arrives, then the end is errc::truncated, not a clean 0.
TEST_F(tls_peer, EofWithoutCloseNotifyIsTruncation) {
  const auto port = port_from_env("CORIO_TLS_PEER_TRUNCATE");
  if (port == 0) GTEST_SKIP() << "CORIO_TLS_PEER_TRUNCATE not set";
  auto ctx = client_context();
  run([&]() -> task<void> {
    auto c = co_await connect(ctx, port, "localhost");
    CO_ASSERT(c.stream);
    CO_CHECK(c.handshake, c.handshake.error().message() << ": " << c.detail);
    std::array<char, 7> got{};
    CO_ASSERT(co_await c.stream->read_exact(got));
    EXPECT_EQ(std::string_view(got.data(), got.size()), "partial");
    std::array<char, 64> more{};
    auto end = co_await c.stream->read(more);
    CO_ASSERT(!end);
    EXPECT_EQ(end.error(), corio::tls::errc::truncated) << end.error().message();
  }(), std::chrono::seconds(60));
}

TEST_F(tls_peer, WrongHostNameIsRefused) {
  auto ctx = client_context();
  run([&]() -> task<void> {
    auto c = co_await connect(ctx, echo_port, "wrong.example");
    CO_ASSERT(c.stream);
    CO_ASSERT(!c.handshake);
    EXPECT_EQ(c.handshake.error(), corio::tls::errc::host_name_mismatch)
        << c.handshake.error().message() << ": " << c.detail;
  }(), std::chrono::seconds(60));
}

TEST_F(tls_peer, IpAddressNameIsVerifiedAgainstTheCertificate) {
  auto ctx = client_context();
  run([&]() -> task<void> {
    {
      auto c = co_await connect(ctx, echo_port, "127.0.0.1");
      CO_ASSERT(c.stream);
      EXPECT_TRUE(c.handshake) << c.handshake.error().message() << ": " << c.detail;
    }  // closed: s_server serves one connection at a time
    auto wrong = co_await connect(ctx, echo_port, "127.0.0.2");
    CO_ASSERT(wrong.stream);
    CO_ASSERT(!wrong.handshake);
    EXPECT_EQ(wrong.handshake.error(), corio::tls::errc::host_name_mismatch) << wrong.detail;
  }(), std::chrono::seconds(60));
}

TEST_F(tls_peer, SelfSignedIsRefusedUnlessTrusted) {
  const auto port = port_from_env("CORIO_TLS_PEER_SELF_SIGNED");
  if (port == 0) GTEST_SKIP() << "CORIO_TLS_PEER_SELF_SIGNED not set";
  auto ctx = client_context();
  auto trusting = client_context();
  ASSERT_TRUE(trusting.trust_pem(certs->self_signed.cert_pem));
  run([&]() -> task<void> {
    {
      auto c = co_await connect(ctx, port, "localhost");
      CO_ASSERT(c.stream);
      CO_ASSERT(!c.handshake);
      EXPECT_EQ(c.handshake.error(), corio::tls::errc::certificate_rejected)
          << c.handshake.error().message() << ": " << c.detail;
    }  // closed: s_server serves one connection at a time
    auto t = co_await connect(trusting, port, "localhost");
    CO_ASSERT(t.stream);
    EXPECT_TRUE(t.handshake) << t.handshake.error().message() << ": " << t.detail;
  }(), std::chrono::seconds(60));
}

TEST_F(tls_peer, ExpiredCertificateIsRefused) {
  const auto port = port_from_env("CORIO_TLS_PEER_EXPIRED");
  if (port == 0) GTEST_SKIP() << "CORIO_TLS_PEER_EXPIRED not set";
  auto ctx = client_context();
  run([&]() -> task<void> {
    auto c = co_await connect(ctx, port, "localhost");
    CO_ASSERT(c.stream);
    CO_ASSERT(!c.handshake);
    EXPECT_EQ(c.handshake.error(), corio::tls::errc::certificate_rejected)
        << c.handshake.error().message() << ": " << c.detail;
  }(), std::chrono::seconds(60));
}

TEST_F(tls_peer, VerificationOffAcceptsAnyCertificate) {
  const auto port = port_from_env("CORIO_TLS_PEER_SELF_SIGNED");
  if (port == 0) GTEST_SKIP() << "CORIO_TLS_PEER_SELF_SIGNED not set";
  auto ctx = corio::tls::context::create(corio::tls::role::client);
  ASSERT_TRUE(ctx);
  ctx->set_verify_peer(false);
  run([&]() -> task<void> {
    auto c = co_await connect(*ctx, port, "wrong.example");
    CO_ASSERT(c.stream);
    EXPECT_TRUE(c.handshake) << c.handshake.error().message() << ": " << c.detail;
  }(), std::chrono::seconds(60));
}

// The server side's credentials: a PEM certificate and its key are
// imported and bound (the key into a key container of its own), and a key
// that is not the certificate's is refused.
TEST_F(tls_peer, ServerCredentialsFromPem) {
  auto ctx = corio::tls::context::create(corio::tls::role::server);
  ASSERT_TRUE(ctx);
  auto chain = ctx->use_certificate_chain_file(certs->server.cert_file.c_str());
  ASSERT_TRUE(chain) << chain.error().message();
  auto key = ctx->use_private_key_pem(certs->server.key_pem);
  EXPECT_TRUE(key) << key.error().message();
  auto other = corio::tls::context::create(corio::tls::role::server);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->use_certificate_chain_pem(certs->server.cert_pem));
  auto wrong = other->use_private_key_pem(certs->expired.key_pem);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error(), corio::tls::errc::bad_credentials);
}

}  // namespace
}  // namespace corio::test
