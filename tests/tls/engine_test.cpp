// tests/tls/engine_test.cpp: the TLS engine contract through memory (no
// sockets): a write fills the output queue with whole records before the
// stream sends, and what it takes arrives whole and in order.
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "corio/tls/detail/engine.hpp"
#include "tls/certs.hpp"
#include "tls/engine_probe.hpp"

namespace corio::test {
namespace {

namespace d = corio::tls::detail;

constexpr std::size_t record = 16 * 1024;  // TLS's largest plaintext per record

// 1 MiB written by the server engine, each write's output delivered and
// decrypted by the client before the next write (as tls::stream does: it
// asks for more only once the queue is sent). Every write that is offered
// two records' worth takes at least two records, so one send carries them:
// 1 MiB in at most 32 sends, not one per record.
TEST(tls_engine_test, AWriteQueuesWholeRecordsForOneSend) {
  const auto* certs = tls::certs();
  if (!certs) GTEST_SKIP() << "no way to make test certificates on this platform";
  if (const auto& blocked = tls::server_side_blocked(*certs); !blocked.empty()) {
    GTEST_SKIP() << "this platform's TLS library cannot serve: " << blocked;
  }
  auto ctx = tls::make_contexts(*certs);
  ASSERT_TRUE(ctx);
  auto client = d::make_engine(ctx->client.impl(), false, "localhost");
  auto server = d::make_engine(ctx->server.impl(), true, {});
  ASSERT_TRUE(client && server);
  ASSERT_EQ(tls::handshake_through_memory(**client, **server).st, d::status::ok);

  std::vector<std::byte> sent(1 << 20);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 131 + i / 977);
  std::vector<std::byte> got;
  std::vector<std::byte> chunk(64 * 1024);
  int writes = 0;
  for (std::size_t off = 0; off < sent.size();) {
    ASSERT_TRUE(d::output(**server).empty());
    const auto w = d::write(**server, sent.data() + off, sent.size() - off);
    ASSERT_EQ(w.st, d::status::ok);
    ASSERT_GT(w.n, 0u);
    if (sent.size() - off >= 2 * record) {
      EXPECT_GE(w.n, 2 * record) << "write " << writes << " took less than two records";
    }
    // One contiguous span holds all of it: one send.
    EXPECT_GT(d::output(**server).size(), w.n);
    off += w.n;
    ++writes;
    while (!d::output(**server).empty()) {
      tls::pump(**server, **client);
      for (;;) {
        const auto r = d::read(**client, chunk.data(), chunk.size());
        if (r.st != d::status::ok) {
          ASSERT_EQ(r.st, d::status::want_read);
          break;
        }
        got.insert(got.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(r.n));
      }
    }
  }
  EXPECT_LE(writes, 32);
  ASSERT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
}

}  // namespace
}  // namespace corio::test
