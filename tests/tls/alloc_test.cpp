// tests/tls/alloc_test.cpp: a TLS stream in steady state allocates nothing
// through operator new (counted by tests/alloc/alloc_test.cpp's
// replacement), and OpenSSL's own allocations (counted here through
// CRYPTO_set_mem_functions, installed before its first allocation) stay at
// OpenSSL 3.0's fixed cost per record and are all freed again.
//
// That fixed cost is upstream's: OpenSSL 3.0's record writer builds each
// record with WPACKETs, whose sub-packet bookkeeping is four 40-byte
// OPENSSL_zalloc calls per record (crypto/packet.c), freed at once. A raw
// OpenSSL loop pays it the same; corio adds nothing to it.
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>

#include "corio/tls/stream.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"
#include "tls/certs.hpp"
#include "tls/engine_probe.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_TLS_ALLOC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CORIO_TLS_ALLOC_SANITIZED 1
#endif
#endif

namespace corio::test::alloc {
// The window of tests/alloc/alloc_test.cpp: allocations are counted while
// `counting` is set.
extern std::atomic<bool> counting;
extern std::atomic<long> allocations;
}  // namespace corio::test::alloc

namespace corio::test {
namespace {

// OpenSSL's allocations and frees while the window is open.
std::atomic<long> ssl_allocations{0}, ssl_frees{0};

void* counted_malloc(std::size_t n, const char*, int) {
  if (alloc::counting.load(std::memory_order_relaxed)) ssl_allocations.fetch_add(1);
  return std::malloc(n);
}
void* counted_realloc(void* p, std::size_t n, const char*, int) {
  if (alloc::counting.load(std::memory_order_relaxed)) {
    ssl_allocations.fetch_add(1);
    if (p) ssl_frees.fetch_add(1);
  }
  return std::realloc(p, n);
}
void counted_free(void* p, const char*, int) {
  if (p && alloc::counting.load(std::memory_order_relaxed)) ssl_frees.fetch_add(1);
  std::free(p);
}

// Before main, so before OpenSSL allocates anything (it refuses afterwards).
const bool openssl_counted = CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free);

using tls_stream = corio::tls::stream<net::tcp_stream>;

TEST(tls_alloc_test, SteadyStateTlsReadsAndWritesAllocateNothing) {
#ifdef CORIO_TLS_ALLOC_SANITIZED
  GTEST_SKIP() << "the sanitizer replaces operator new; the plain build runs this test";
#endif
  if (!openssl_counted) GTEST_SKIP() << "OpenSSL allocated before its allocator could be set";
  const auto* certs = tls::certs();
  auto ctx = tls::make_contexts(*certs);
  ASSERT_TRUE(ctx);
  auto rt = make_runtime();
  long counted = -1, ssl_counted = -1, ssl_freed = -1;
  run(rt, [&]() -> task<void> {
    auto tcp = co_await connected_pair();
    auto c = tls_stream::client(ctx->client, std::move(tcp.client), "localhost");
    auto s = tls_stream::server(ctx->server, std::move(tcp.server));
    CO_ASSERT(c && s);
    result<void> hc, hs;
    auto hs_task = [](tls_stream& st, result<void>& r) -> task<void> { r = co_await st.handshake(); };
    co_await when_all(hs_task(*c, hc), hs_task(*s, hs));
    CO_ASSERT(hc && hs);
    std::stop_source stopper;
    const std::stop_token stop = stopper.get_token();
    std::array<std::byte, 16 * 1024> out{}, in{};
    // One echo of `size` bytes: client writes, server reads and writes back
    // under with_stop (as the demo's server does), client reads it all.
    auto round = [&](std::size_t size) -> task<bool> {
      auto msg = std::span(out).first(size);
      auto back = std::span(in).first(size);
      if (!co_await c->write_all(msg)) co_return false;
      if (!co_await with_stop(s->read_exact(back), stop)) co_return false;
      if (!co_await with_stop(s->write_all(back), stop)) co_return false;
      co_return bool(co_await c->read_exact(back));
    };
    for (int i = 0; i < 50; ++i) {  // warm-up: session tickets, buffers, caches
      CO_ASSERT(co_await round(64));
      CO_ASSERT(co_await round(out.size()));
    }
    alloc::allocations.store(0);
    ssl_allocations.store(0);
    ssl_frees.store(0);
    alloc::counting.store(true);
    bool ok = true;
    for (int i = 0; i < 200 && ok; ++i) ok = co_await round(i % 2 ? 64 : out.size());
    alloc::counting.store(false);
    counted = alloc::allocations.load();
    ssl_counted = ssl_allocations.load();
    ssl_freed = ssl_frees.load();
    CO_ASSERT(ok);
  }());
  EXPECT_EQ(counted, 0) << "operator new calls in 200 steady-state TLS echoes";
  // 400 records written (each echo: the client's and the server's), at
  // most 4 transient allocations each, all freed: nothing accumulates.
  EXPECT_LE(ssl_counted, 4 * 400) << "OpenSSL allocations in 200 steady-state TLS echoes";
  EXPECT_EQ(ssl_freed, ssl_counted) << "OpenSSL allocations not freed again";
}

}  // namespace
}  // namespace corio::test
