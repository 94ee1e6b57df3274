// tests/alloc/alloc_test.cpp: steady-state I/O allocates nothing (lesson 5).
//
// This file replaces the global operator new and delete (every overload,
// aligned and nothrow included) for the whole corio_tests binary with a
// malloc-based pair that also counts allocations while a window is open. The
// window is one global flag, opened and closed by the coroutine under test,
// so it counts what any thread allocates meanwhile (an operation completing
// on another worker, a cross-thread post) and nothing gtest allocates
// outside it. Each test warms up first (first connection, first operations:
// run queues and backend tables reach their steady size), then counts.
//
// Sanitizers (ASan, TSan, MSan) replace operator new themselves: there the
// replacement is not compiled and the tests skip, saying why. The plain
// build runs them on every backend.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <span>
#include <vector>

#include "corio/io/buffered_reader.hpp"
#include "corio/io/buffered_writer.hpp"
#include "corio/io/pooled_buffer.hpp"
#include "corio/blocking.hpp"
#include "corio/fs/send_file.hpp"
#include "fs/temp_dir.hpp"
#include "http_server/server.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"
#include "support/workers.hpp"

#ifdef _WIN32
#include <malloc.h>  // _aligned_malloc
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_ALLOC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define CORIO_ALLOC_TEST_SANITIZED 1
#endif
#endif

#if !defined(CORIO_ALLOC_TEST_SANITIZED) && defined(__GLIBC__) && __has_include(<execinfo.h>)
#include <execinfo.h>
#include <unistd.h>
#define CORIO_ALLOC_TEST_BACKTRACE 1
#endif

namespace corio::test::alloc {

// Allocations counted while `counting` is set.
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
std::atomic<long> bytes{0};

#ifdef CORIO_ALLOC_TEST_BACKTRACE
// Where the first counted allocation came from, to say which call allocated
// when a test fails. Filled once per window, without allocating.
void* first_frames[24];
std::atomic<int> first_depth{0};
thread_local bool in_backtrace = false;
#endif

inline void note(std::size_t n) noexcept {
  if (!counting.load(std::memory_order_relaxed)) return;
  if (allocations.fetch_add(1, std::memory_order_relaxed) == 0) {
#ifdef CORIO_ALLOC_TEST_BACKTRACE
    if (!in_backtrace) {
      in_backtrace = true;
      first_depth.store(::backtrace(first_frames, 24), std::memory_order_relaxed);
      in_backtrace = false;
    }
#endif
  }
  bytes.fetch_add(static_cast<long>(n), std::memory_order_relaxed);
}

}  // namespace corio::test::alloc

#ifndef CORIO_ALLOC_TEST_SANITIZED

namespace {

void* allocate(std::size_t n) noexcept {
  corio::test::alloc::note(n);
  return std::malloc(n == 0 ? 1 : n);
}

void* allocate_aligned(std::size_t n, std::align_val_t al) noexcept {
  corio::test::alloc::note(n);
  auto a = static_cast<std::size_t>(al);
  if (n == 0) n = 1;
#ifdef _WIN32
  // MinGW's own aligned new uses _aligned_malloc too, so a block it
  // allocated inside the runtime DLL can be freed here and the reverse.
  return _aligned_malloc(n, a);
#else
  if (a < sizeof(void*)) a = sizeof(void*);
  void* p = nullptr;
  return ::posix_memalign(&p, a, n) == 0 ? p : nullptr;
#endif
}

void release_aligned(void* p) noexcept {
#ifdef _WIN32
  _aligned_free(p);
#else
  std::free(p);
#endif
}

// The throwing forms: retry through the new-handler, as the standard ones do.
template <class F>
void* or_throw(F try_allocate) {
  for (;;) {
    if (void* p = try_allocate()) return p;
    std::new_handler h = std::get_new_handler();
    if (!h) throw std::bad_alloc();
    h();
  }
}

}  // namespace

void* operator new(std::size_t n) { return or_throw([n] { return allocate(n); }); }
void* operator new[](std::size_t n) { return or_throw([n] { return allocate(n); }); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  return or_throw([n, a] { return allocate_aligned(n, a); });
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return or_throw([n, a] { return allocate_aligned(n, a); });
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(n, a);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { release_aligned(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release_aligned(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release_aligned(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release_aligned(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  release_aligned(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  release_aligned(p);
}

#endif  // !CORIO_ALLOC_TEST_SANITIZED

namespace corio::test {
namespace {

using namespace std::chrono_literals;

/// Counts the allocations (on any thread) between start() and stop().
class alloc_window {
 public:
  void start() noexcept {
    alloc::allocations.store(0, std::memory_order_relaxed);
    alloc::bytes.store(0, std::memory_order_relaxed);
#ifdef CORIO_ALLOC_TEST_BACKTRACE
    alloc::first_depth.store(0, std::memory_order_relaxed);
#endif
    alloc::counting.store(true, std::memory_order_seq_cst);
  }
  void stop() noexcept {
    alloc::counting.store(false, std::memory_order_seq_cst);
    count_ = alloc::allocations.load(std::memory_order_relaxed);
    bytes_ = alloc::bytes.load(std::memory_order_relaxed);
  }
  long count() const noexcept { return count_; }
  /// For failure messages: the counts, and where the first one came from.
  std::string describe() const {
    std::string s = std::to_string(count_) + " allocation(s), " + std::to_string(bytes_) +
                    " bytes";
#ifdef CORIO_ALLOC_TEST_BACKTRACE
    if (int depth = alloc::first_depth.load(); depth > 0) {
      s += "; the first one's stack is on stderr (addr2line -Cfpe <test binary> <+offsets>)";
      std::fputs("first counted allocation:\n", stderr);
      ::backtrace_symbols_fd(alloc::first_frames, depth, STDERR_FILENO);
    }
#endif
    return s;
  }

 private:
  long count_ = 0;
  long bytes_ = 0;
};

class alloc_test : public runtime_test {
 protected:
  void SetUp() override {
    runtime_test::SetUp();
#ifdef CORIO_ALLOC_TEST_SANITIZED
    GTEST_SKIP() << "the sanitizer replaces operator new, so allocations cannot be counted "
                    "here; the plain build runs this test";
#endif
  }
};

constexpr std::size_t message_size = 64;

// One request/response exchange between client and server, as an echo does.
// The server side runs under with_stop, as the README's server does.
task<bool> round_trip(net::tcp_stream& client, net::tcp_stream& server,
                      std::span<std::byte> out, std::span<std::byte> in,
                      const std::stop_token& stop) {
  auto w = co_await client.write(out);
  if (!w || *w != out.size()) co_return false;
  auto n = co_await with_stop(server.read_exact(in), stop);
  if (!n) co_return false;
  auto e = co_await with_stop(server.write_all(in), stop);
  if (!e) co_return false;
  std::size_t got = 0;
  while (got < in.size()) {
    auto r = co_await client.read(in.subspan(got));
    if (!r || *r == 0) co_return false;
    got += *r;
  }
  co_return true;
}

TEST_F(alloc_test, SteadyStateReadsAndWritesAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<std::byte, message_size> out{}, in{};
    std::stop_source stopper;
    const std::stop_token stop = stopper.get_token();
    // round_trip is itself a coroutine (a frame per call): the loop body
    // below is inline so that only the I/O is counted.
    for (int i = 0; i < 100; ++i) CO_ASSERT(co_await round_trip(client, server, out, in, stop));
    bool ok = true;
    window.start();
    for (int i = 0; i < 1000 && ok; ++i) {
      auto w = co_await client.write(out);
      ok = w && *w == out.size();
      auto n = co_await with_stop(server.read_exact(in), stop);
      auto e = co_await with_stop(server.write_all(in), stop);
      ok = ok && n && e;
      std::size_t got = 0;
      while (ok && got < in.size()) {
        auto r = co_await client.read(std::span(in).subspan(got));
        ok = r && *r > 0;
        if (ok) got += *r;
      }
    }
    window.stop();
    EXPECT_TRUE(ok) << "an exchange failed";
    EXPECT_EQ(window.count(), 0) << "1,000 read/write round trips (the server's under with_stop): " << window.describe();
  }(window));
}

// Gather writes (write_all over several slices: sendmsg / one WSASend with
// several WSABUFs), also under with_stop.
TEST_F(alloc_test, SteadyStateGatherWritesAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<std::byte, 16> a{}, b{}, c{};
    std::array<std::byte, 48> in{};
    std::stop_source stopper;
    const std::stop_token stop = stopper.get_token();
    bool ok = true;
    auto exchange = [&]() -> task<void> {
      std::array<io_slice, 3> slices{as_slice(a), as_slice(b), as_slice(c)};
      auto w = co_await with_stop(client.write_all(std::span(slices)), stop);
      auto r = co_await server.read_exact(in);
      ok = ok && w && r;
    };
    for (int i = 0; i < 100 && ok; ++i) co_await exchange();
    CO_ASSERT(ok);
    window.start();
    for (int i = 0; i < 1000 && ok; ++i) {
      std::array<io_slice, 3> slices{as_slice(a), as_slice(b), as_slice(c)};
      auto w = co_await with_stop(client.write_all(std::span(slices)), stop);
      auto r = co_await server.read_exact(in);
      ok = w && r;
    }
    window.stop();
    EXPECT_TRUE(ok) << "a gather exchange failed";
    EXPECT_EQ(window.count(), 0) << "1,000 gather writes of 3 slices: " << window.describe();
  }(window));
}

// read_pooled, the README's server's read: the buffer comes from the
// worker's buffer ring (io_uring) or its pool (epoll, IOCP, io_uring
// without a ring) and goes back before the next read.
task<void> pooled_echoes(alloc_window& window) {
  auto [client, server] = co_await connected_pair();
  std::array<std::byte, message_size> out{}, in{};
  std::stop_source stopper;
  const std::stop_token stop = stopper.get_token();
  bool ok = true;
  for (int i = 0; i < 1100 && ok; ++i) {
    if (i == 100) window.start();  // the first 100 warm up
    auto w = co_await client.write(out);
    ok = w && *w == out.size();
    std::size_t echoed = 0;
    while (ok && echoed < out.size()) {
      auto got = co_await with_stop(with_timeout(server.read_pooled(), 1h), stop);
      ok = got && !got->empty() && co_await with_stop(server.write_all(got->bytes()), stop);
      if (ok) echoed += got->size();
    }
    std::size_t back = 0;
    while (ok && back < in.size()) {
      auto r = co_await client.read(std::span(in).subspan(back));
      ok = r && *r > 0;
      if (ok) back += *r;
    }
  }
  window.stop();
  EXPECT_TRUE(ok) << "a pooled echo failed";
  EXPECT_EQ(window.count(), 0) << "1,000 pooled reads echoed (under with_stop and with_timeout): "
                               << window.describe();
}

TEST_F(alloc_test, SteadyStatePooledReadsAllocateNothing) {
  alloc_window window;
  run(pooled_echoes(window));
}

#ifndef _WIN32
// The same where io_uring has no buffer ring (CORIO_TEST_URING_BUFFER_RING=0,
// as on a kernel before 5.19): a poll, then a read into the pool.
TEST_F(alloc_test, SteadyStatePooledReadsWithoutABufferRingAllocateNothing) {
  ::setenv("CORIO_TEST_URING_BUFFER_RING", "0", 1);
  auto no_ring = make_runtime();
  ::unsetenv("CORIO_TEST_URING_BUFFER_RING");
  alloc_window window;
  test::run(no_ring, pooled_echoes(window));
}
#endif

TEST_F(alloc_test, SteadyStateTimersAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    auto [client, server] = co_await connected_pair();
    std::array<std::byte, message_size> buf{};
    // Each kind once to warm up, then 100 of each counted: a sleep that
    // fires, a with_timeout whose read wins (the timer is cancelled), and one
    // whose timer wins (the read is cancelled; the stream stays usable).
    auto exercise = [&](int n, bool& ok) -> task<void> {
      for (int i = 0; i < n && ok; ++i) {
        auto s = co_await sleep_for(10us);
        ok = ok && s.has_value();
        auto w = co_await client.write(buf);
        auto r = co_await with_timeout(server.read(buf), 1h);
        ok = ok && w && r && *r > 0;
        auto t = co_await with_timeout(server.read(buf), 200us);
        ok = ok && !t && t.error() == errc::timed_out;
      }
    };
    bool ok = true;
    co_await exercise(3, ok);
    CO_ASSERT(ok);
    // exercise's own frame is allocated when the task is made: before start().
    auto counted = exercise(100, ok);
    window.start();
    co_await std::move(counted);
    window.stop();
    EXPECT_TRUE(ok) << "a timer or a timed read did not behave";
    EXPECT_EQ(window.count(), 0) << "100 sleeps and 200 timed reads: " << window.describe();
  }(window));
}

task<int> add_one(int v) { co_return v + 1; }

// Coroutine frames come from the worker's cache of freed frames: once warm,
// calling a coroutine per message, or spawning a child into a scope and
// joining it, allocates nothing. (The scope itself is made once: its stop
// source allocates its shared state.)
TEST_F(alloc_test, SteadyStateCoroutineCallsAndSpawnsAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    auto body = [](int n, int& sum, scope& s) -> task<void> {
      for (int i = 0; i < n; ++i) sum = co_await add_one(sum);
      for (int i = 0; i < n / 10; ++i) {
        s.spawn_local([](int& total) -> task<void> {
          total = co_await add_one(total);
        }(sum));
        co_await s.join();
      }
    };
    int sum = 0;
    scope children;
    co_await body(100, sum, children);
    auto counted = body(1000, sum, children);  // its own frame is allocated here
    window.start();
    co_await std::move(counted);
    window.stop();
    EXPECT_EQ(sum, 110 + 1100);
    EXPECT_EQ(window.count(), 0) << "1,000 coroutine calls and 100 spawns: " << window.describe();
  }(window));
}

constexpr int connections = 100;

// Accepting connections and closing them, as a server does: closed on the
// accepting worker, and closed on another worker (a server spawns each
// connection round-robin; IOCP completes on any worker). The socket_core of
// each accepted stream comes from storage freed by earlier closes.
TEST_F(alloc_test, SteadyStateAcceptAllocatesNothing) {
  alloc_window same_worker, other;
  const bool iocp = rt.backend() == backend_kind::iocp;
  run([](alloc_window& same_worker, alloc_window& other, bool iocp) -> task<void> {
    auto listener = listen_loopback();
    const auto to = net::endpoint::loopback_v4(port_of(listener));
    void* home = detail::current_backend();
    void* away = co_await other_worker();
    std::vector<net::tcp_stream> clients;
    std::array<net::tcp_stream, connections> accepted;
    clients.reserve(connections);
    // Connects `connections` clients (connect allocates its coroutine frame:
    // outside the window), accepts all of them, and closes them on `close_on`.
    auto batch = [&](alloc_window* window, void* close_on) -> task<bool> {
      clients.clear();
      for (int i = 0; i < connections; ++i) {
        auto c = co_await net::tcp_stream::connect(to);
        if (!c) co_return false;
        clients.push_back(std::move(*c));
      }
      if (window) window->start();
      bool ok = true;
      for (auto& a : accepted) {
        auto s = co_await listener.accept();
        ok = ok && s.has_value();
        if (s) a = std::move(*s);
      }
      co_await hop{close_on};
      for (auto& a : accepted) a.close();
      co_await hop{home};
      if (window) window->stop();
      co_return ok;
    };
    // Warm-up first: afterwards the storage of closed connections is what
    // new ones reuse. A worker keeps up to 64 freed cores before it passes a
    // batch of 32 to the shared depot, so an accepting worker can find its
    // own list and the depot empty while the other one holds up to 64 of
    // them, besides the 200 open sockets of a round (clients and accepted):
    // with more than 264 cores in circulation that cannot happen. 250
    // connections open at once (500 sockets) put them there; a few rounds
    // of each kind then settle the lists. (On IOCP
    // the accepting coroutine itself moves between workers, so both cases
    // need this.)
    bool ok = true;
    {
      std::vector<net::tcp_stream> many_clients, many_accepted;
      for (int i = 0; i < 250 && ok; ++i) {
        auto c = co_await net::tcp_stream::connect(to);
        auto a = co_await listener.accept();
        ok = c && a;
        if (ok) {
          many_clients.push_back(std::move(*c));
          many_accepted.push_back(std::move(*a));
        }
      }
    }
    for (int i = 0; i < 3; ++i) ok = ok && co_await batch(nullptr, home);
    ok = ok && co_await batch(&same_worker, home);
    for (int i = 0; i < 3; ++i) ok = ok && co_await batch(nullptr, away);
    ok = ok && co_await batch(&other, away);
    EXPECT_TRUE(ok) << "a connect or an accept failed";
    // On IOCP a post lands on whichever worker dequeues it, so "home" and
    // "away" are not places a coroutine can be sent to (under Wine the
    // spawning worker often takes them all).
    if (!iocp) {
      EXPECT_NE(home, away) << "could not reach a second worker";
    }
  }(same_worker, other, iocp));
  EXPECT_EQ(same_worker.count(), 0)
      << connections << " accepts, closed on the accepting worker: " << same_worker.describe();
  EXPECT_EQ(other.count(), 0) << connections
                              << " accepts, closed on another worker: " << other.describe();
}

// Buffered reads (read_line, read_until, read_exact, each a coroutine
// whose frame comes from the worker's cache) and buffered writes with
// flush: the buffers are allocated once, with the reader and the writer.
TEST_F(alloc_test, SteadyStateBufferedReadsAndWritesAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    auto [client, server] = co_await connected_pair();
    io::buffered_reader reader(server, 4096);
    io::buffered_writer writer(client, 4096);
    std::stop_source stopper;
    reader.set_stop_token(stopper.get_token());  // reads under with_stop
    auto exchange = [&](int n, bool& ok) -> task<void> {
      std::array<std::byte, 4> body;
      for (int i = 0; i < n && ok; ++i) {
        auto w = co_await writer.write(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"));
        auto f = co_await writer.flush();
        auto line = co_await reader.read_line(256);
        auto head = co_await reader.read_until("\r\n\r\n", 256);
        auto rest = co_await reader.read_exact(body);
        ok = w && f && line && *line == "GET / HTTP/1.1" && head && head->size() == 11 && rest;
      }
    };
    bool ok = true;
    co_await exchange(100, ok);
    CO_ASSERT(ok);
    auto counted = exchange(1000, ok);  // its own frame is allocated here
    window.start();
    co_await std::move(counted);
    window.stop();
    EXPECT_TRUE(ok) << "a buffered exchange failed";
    EXPECT_EQ(window.count(), 0) << "1,000 buffered writes+flushes and 3,000 buffered reads: "
                                 << window.describe();
  }(window));
}

// buffered_reader in pooled mode (over a TCP stream) with every line split
// across two reads: the first half is served from a pooled buffer, then
// kept in the reader's own storage (a block of the worker's pool, given back
// once emptied) while the next read brings the rest.
TEST_F(alloc_test, SteadyStatePooledBufferedReadsOfSplitLinesAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    auto [client, server] = co_await connected_pair();
    io::buffered_reader reader(server, 4096);
    CO_ASSERT(reader.pooled());
    std::stop_source stopper;
    reader.set_stop_token(stopper.get_token());  // reads under with_stop
    auto exchange = [&](int n, bool& ok) -> task<void> {
      for (int i = 0; i < n && ok; ++i) {
        auto w1 = co_await client.write_all(std::string_view("PING some-"));
        auto f = co_await reader.fill();  // (some of) the first half
        auto w2 = co_await client.write_all(std::string_view("argument\r\n"));
        auto line = co_await reader.read_line(256);
        ok = w1 && f && *f > 0 && w2 && line && *line == "PING some-argument";
      }
    };
    bool ok = true;
    co_await exchange(100, ok);
    CO_ASSERT(ok);
    auto counted = exchange(1000, ok);  // its own frame is allocated here
    window.start();
    co_await std::move(counted);
    window.stop();
    EXPECT_TRUE(ok) << "a split line failed";
    EXPECT_EQ(window.count(), 0) << "1,000 lines split across two pooled reads: "
                                 << window.describe();
  }(window));
}

// spawn_blocking's job, callable and value live in the awaiter: once the
// pool has its thread, a job costs no allocation (with a stop token too).
TEST_F(alloc_test, SteadyStateBlockingJobsAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    std::stop_source stopper;
    long sum = 0;
    for (int i = 0; i < 10; ++i) sum += (co_await spawn_blocking([i] { return i; })).value_or(0);
    window.start();
    for (int i = 0; i < 100; ++i) {
      sum += (co_await spawn_blocking([i] { return i; })).value_or(0);
      sum += (co_await spawn_blocking([i] { return i; }, stopper.get_token())).value_or(0);
    }
    window.stop();
    EXPECT_EQ(sum, 45 + 2 * 4950);
    EXPECT_EQ(window.count(), 0) << "200 blocking jobs: " << window.describe();
  }(window));
}

// Datagrams: send_to and recv_from (the sender's address included), the
// server's under with_stop and with_timeout, and connected send/recv: the
// message header and the address live in the awaiter.
TEST_F(alloc_test, SteadyStateDatagramsAllocateNothing) {
  alloc_window window;
  run([](alloc_window& window) -> task<void> {
    auto a = net::udp_socket::bind(net::endpoint::loopback_v4(0));
    auto b = net::udp_socket::bind(net::endpoint::loopback_v4(0));
    CO_ASSERT(a && b);
    const net::endpoint to_b = *b->local_endpoint(), to_a = *a->local_endpoint();
    std::array<std::byte, message_size> out{}, in{};
    std::stop_source stopper;
    const std::stop_token stop = stopper.get_token();
    bool ok = true;
    auto exchange = [&]() -> task<void> {
      auto w = co_await a->send(out);
      auto d = co_await with_stop(b->recv_from(in), stop);
      auto e = d ? co_await b->send_to(std::span(in).first(d->size), d->from) : w;
      auto r = co_await with_timeout(a->recv(in), std::chrono::seconds(5));
      ok = ok && w && d && e && r && *r == out.size();
    };
    CO_ASSERT(a->connect(to_b));
    for (int i = 0; i < 100 && ok; ++i) co_await exchange();
    CO_ASSERT(ok);
    window.start();
    for (int i = 0; i < 1000 && ok; ++i) {
      auto w = co_await a->send(out);
      auto d = co_await with_stop(b->recv_from(in), stop);
      ok = w && d && d->from == to_a;
      if (!ok) break;
      auto e = co_await b->send_to(std::span(in).first(d->size), d->from);
      auto r = co_await with_timeout(a->recv(in), std::chrono::seconds(5));
      ok = e && r && *r == out.size();
    }
    window.stop();
    EXPECT_TRUE(ok) << "a datagram exchange failed";
    EXPECT_EQ(window.count(), 0) << "1,000 datagram round trips: " << window.describe();
  }(window));
}

// fs::file's reads and writes keep their request in the awaiter (io_uring:
// an SQE; epoll: a blocking-pool job; IOCP: an overlapped call), and
// send_file over TCP is stepped in place: none allocates once warm.
TEST_F(alloc_test, SteadyStateFileIoAndSendFileAllocateNothing) {
  temp_dir dir;
  alloc_window window;
  run([](alloc_window& window, std::string path) -> task<void> {
    auto f = co_await fs::file::open(path, fs::open_flags::read | fs::open_flags::write | fs::open_flags::create);
    CO_ASSERT(f.has_value());
    auto [client, server] = co_await connected_pair();
    std::array<std::byte, 4096> out{}, in{};
    std::stop_source stopper;
    const std::stop_token stop = stopper.get_token();
    bool ok = true;
    for (int pass = 0; pass < 2 && ok; ++pass) {
      if (pass == 1) window.start();
      for (int i = 0; i < 100 && ok; ++i) {
        const std::uint64_t at = static_cast<std::uint64_t>(i % 8) * out.size();
        auto w = co_await f->write_at(at, out);
        auto r = co_await with_stop(f->read_at(at, in), stop);
        ok = w && *w == out.size() && r && *r == in.size();
        auto sent = co_await fs::send_file(server, *f, at, in.size());
        ok = ok && sent && *sent == in.size();
        std::size_t got = 0;
        while (ok && got < in.size()) {
          auto n = co_await client.read(std::span(in).subspan(got));
          ok = n && *n > 0;
          if (ok) got += *n;
        }
      }
    }
    window.stop();
    EXPECT_TRUE(ok) << "a file operation failed";
    EXPECT_EQ(window.count(), 0) << "100 write_at + read_at + send_file: " << window.describe();
  }(window, dir.file("alloc.bin")));
}

// The HTTP server's per-request path (demos/http_server): read, parse,
// answer /hello, write, on a warm keep-alive connection; reads pooled on
// io_uring, as the demo sets them.
TEST_F(alloc_test, HttpHelloAllocatesNothing) {
  alloc_window window;
  run([](alloc_window& window, bool pooled) -> task<void> {
    auto [client, server] = co_await connected_pair();
    http_server::config cfg;
    cfg.pooled_reads = pooled;
    std::stop_source stopper;
    scope s;
    s.spawn_local(http_server::serve_connection(server, cfg, stopper.get_token(), "test"));
    const std::string_view request = "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
    std::array<char, 512> in;
    // One request, one whole answer (head and "hello"), read until its body.
    auto exchange = [&](int n, bool& ok) -> task<void> {
      for (int i = 0; i < n && ok; ++i) {
        ok = bool(co_await client.write_all(request));
        std::size_t got = 0;
        while (ok && (got < 5 || std::string_view(in.data(), got).substr(got - 5) != "hello")) {
          auto r = co_await client.read(std::span(in).subspan(got));
          ok = r && *r > 0 && got + *r < in.size();
          if (ok) got += *r;
        }
      }
    };
    bool ok = true;
    co_await exchange(100, ok);
    CO_ASSERT(ok);
    auto counted = exchange(1000, ok);
    window.start();
    co_await std::move(counted);
    window.stop();
    EXPECT_TRUE(ok) << "an exchange failed";
    EXPECT_EQ(window.count(), 0) << "1,000 /hello requests: " << window.describe();
    client.close();
    co_await s.join();
  }(window, http_server::pooled_reads_pay_off(rt.backend())));
}

}  // namespace
}  // namespace corio::test
