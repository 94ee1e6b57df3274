// tests/backend/epoll_test.cpp: what only the epoll backend has to get
// right: the inline budget, waits from several workers on one socket, a
// chain of accepts on one listener, and (driving one backend directly on
// this thread) cancellation, the timer heap, failed registrations and
// sockets closed while an event batch still names them. Linux only; skipped
// unless the suite runs on epoll (CORIO_BACKEND=epoll).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "backend/backend.hpp"  // white-box: the backend contract
#include "backend/epoll/epoll_backend.hpp"  // and its inline budget
#include "corio/cancel.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

bool suite_runs_on_epoll() {
  const char* b = std::getenv("CORIO_BACKEND");
  return b && std::string_view(b) == "epoll";
}

#define SKIP_UNLESS_EPOLL(rt)                                                   \
  if ((rt).backend() != backend_kind::epoll)                                   \
  GTEST_SKIP() << "epoll-specific; this run uses " << to_string((rt).backend()) \
               << " (set CORIO_BACKEND=epoll)"

// ---- Through the public API ---------------------------------------------------

// One connection whose reads always find data must not keep another
// connection's ready read from completing. Proven by counting, on one
// worker: the reads the busy loop had finished when the other read
// completed. Without the budget the busy loop never suspends, so the other
// read completes only after all of them.
TEST(epoll_backend, BusyConnectionCannotStarveAnother) {
  auto rt = make_runtime(1);
  SKIP_UNLESS_EPOLL(rt);
  run(rt, []() -> task<void> {
    auto busy = co_await connected_pair();
    auto other = co_await connected_pair();
    constexpr std::size_t total = 16 * 1024;
    // Everything the busy loop reads is in its socket before it starts.
    const auto data = random_bytes(total, 5);
    auto w = co_await busy.client.write_all(data);
    CO_ASSERT(w);
    std::size_t busy_reads = 0;
    std::size_t reads_when_other_done = 0;
    scope s;
    s.spawn_local([](net::tcp_stream& server, std::size_t& busy_reads,
                     std::size_t& seen) -> task<void> {
      std::array<char, 1> b;
      auto n = co_await server.read(b);  // waits: nothing sent yet
      EXPECT_TRUE(n && *n == 1);
      seen = busy_reads;
    }(other.server, busy_reads, reads_when_other_done));
    co_await yield();  // the other read is waiting now
    auto o = co_await other.client.write(std::string_view("x"));
    CO_ASSERT(o);
    std::array<char, 1> b;
    while (busy_reads < total) {
      auto n = co_await busy.server.read(b);
      CO_ASSERT(n && *n == 1);
      ++busy_reads;
    }
    co_await s.join();
    EXPECT_GT(reads_when_other_done, 0u);
    EXPECT_LT(reads_when_other_done, total) << "the busy connection starved the other one";
  }());
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

// A stream's two halves waiting at once on two workers: each worker
// registers the socket with its own epoll and completes only its own
// operation.
TEST(epoll_backend, HalvesWaitingOnTwoWorkersBothComplete) {
  auto rt = make_runtime(2);
  SKIP_UNLESS_EPOLL(rt);
  run(rt, [](runtime& rt) -> task<void> {
    auto [client, server] = co_await connected_pair();
    auto [rd, wr] = client.split();
    const auto big = random_bytes(8 << 20, 9);
    bool read_ok = false, write_ok = false;
    scope s;
    // Round-robin: the first spawn goes to one worker, the second to the other.
    s.spawn([](net::read_half rd, bool& ok) -> task<void> {
      std::array<char, 3> b;
      auto r = co_await rd.read_exact(std::as_writable_bytes(std::span(b)));
      ok = r && std::string_view(b.data(), 3) == "end";
    }(rd, read_ok));
    s.spawn([](net::write_half wr, const std::vector<std::byte>& big, bool& ok) -> task<void> {
      auto r = co_await wr.write_all(big);  // far more than the socket buffers hold
      ok = r.has_value();
    }(wr, big, write_ok));
    while (rt.operations_in_flight() < 2) co_await yield();
    // Drain the writer, then answer the reader.
    std::vector<std::byte> sink(1 << 16);
    std::size_t got = 0;
    while (got < big.size()) {
      auto n = co_await server.read(sink);
      CO_ASSERT(n && *n > 0);
      got += *n;
    }
    auto w = co_await server.write(std::string_view("end"));
    EXPECT_TRUE(w);
    co_await s.join();
    EXPECT_TRUE(read_ok);
    EXPECT_TRUE(write_ok);
  }(rt));
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

// Several accepts waiting on one listener from one worker queue up; a
// cancelled one in the middle leaves the others in order. (Portable
// behaviour, but the chain is epoll's own.)
TEST(epoll_backend, AcceptsWaitingOnOneListenerQueueAndOneCanBeCancelled) {
  auto rt = make_runtime(1);
  SKIP_UNLESS_EPOLL(rt);
  run(rt, [](runtime& rt) -> task<void> {
    auto listener = listen_loopback();
    std::stop_source stop_middle;
    std::array<int, 3> outcome{};  // 1: accepted, 2: cancelled
    scope s;
    for (int i = 0; i < 3; ++i) {
      s.spawn_local([](net::tcp_listener& l, std::stop_token tok, int& outcome) -> task<void> {
        auto a = co_await with_stop(l.accept(), tok);
        if (a) outcome = 1;
        if (!a && a.error() == std::errc::operation_canceled) outcome = 2;
      }(listener, i == 1 ? stop_middle.get_token() : std::stop_token{}, outcome[i]));
    }
    while (rt.operations_in_flight() < 3) co_await yield();
    stop_middle.request_stop();
    auto to = net::endpoint::loopback_v4(port_of(listener));
    auto c1 = co_await net::tcp_stream::connect(to);
    auto c2 = co_await net::tcp_stream::connect(to);
    EXPECT_TRUE(c1 && c2);
    co_await s.join();
    EXPECT_EQ(outcome[0], 1);
    EXPECT_EQ(outcome[1], 2);
    EXPECT_EQ(outcome[2], 1);
  }(rt));
  EXPECT_EQ(rt.operations_in_flight(), 0);
}

// ---- One backend, driven directly on this thread ------------------------------

// An operation whose completion records what it got and may run a step
// inside the completion (as a resumed coroutine would).
struct probe {
  detail::operation op;
  int completions = 0;
  std::int64_t res = 0;
  std::function<void()> then;
  probe() {
    op.context = this;
    op.complete = [](detail::operation* o) noexcept {
      auto* p = static_cast<probe*>(o->context);
      ++p->completions;
      p->res = o->res;
      if (p->then) p->then();
    };
  }
};

// A connected pair of non-blocking stream sockets, each in a heap core that
// socket_closer closes, as a tcp_stream's would be.
struct socket_pair {
  detail::socket_ptr a, b;
};
socket_pair make_socket_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  socket_pair p;
  p.a.reset(new detail::socket_core);
  p.a->handle = fds[0];
  p.b.reset(new detail::socket_core);
  p.b->handle = fds[1];
  return p;
}

void send_byte(const detail::socket_ptr& s) {
  ASSERT_EQ(::send(static_cast<int>(s->handle), "x", 1, MSG_NOSIGNAL), 1);
}

class epoll_direct : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!suite_runs_on_epoll()) GTEST_SKIP() << "epoll-specific (set CORIO_BACKEND=epoll)";
    auto set = detail::make_epoll_backends(1);
    ASSERT_TRUE(set) << set.error().message();
    io = std::move((*set)[0]);
    ASSERT_TRUE(io->attach_thread());
  }
  void TearDown() override {
    if (io) {
      EXPECT_EQ(io->in_flight(), 0);
    }
  }
  // Starts a read of `size` bytes (or a wait for readability) on `s`.
  bool start_recv(detail::operation& op, detail::socket_core& s, void* data, std::size_t size) {
    op.code = detail::op_code::recv;
    op.sock = &s;
    op.args.buf = {data, size};
    return io->start(op);
  }
  bool start_wait_readable(detail::operation& op, detail::socket_core& s) {
    op.code = detail::op_code::wait_readable;
    op.sock = &s;
    return io->start(op);
  }
  // Polls until nothing is in flight (each poll waits for something).
  void poll_until_idle() {
    for (int i = 0; i < 100000 && io->in_flight() > 0; ++i) io->poll(true);
  }
  std::unique_ptr<detail::backend> io;
};

TEST_F(epoll_direct, CancelledReadCompletesInTheNextPollAndTheSocketStaysUsable) {
  auto [a, b] = make_socket_pair();
  probe p;
  std::array<char, 8> buf;
  ASSERT_TRUE(start_recv(p.op, *a, buf.data(), buf.size()));  // nothing to read
  EXPECT_EQ(io->in_flight(), 1);
  io->cancel(p.op);
  EXPECT_EQ(p.completions, 0) << "cancel must never complete inline";
  io->poll(false);
  EXPECT_EQ(p.completions, 1);
  EXPECT_EQ(p.res, -ECANCELED);
  EXPECT_EQ(io->in_flight(), 0);
  // Data sent after the cancel goes to the next read; a stale edge for the
  // cancelled one completes nothing.
  send_byte(b);
  io->poll(false);
  EXPECT_EQ(p.completions, 1);
  probe q;
  // The socket was dry at the cancelled read: the next read finishes inline
  // only if this worker has fetched the byte's event since, else it waits
  // for it (the readiness cache; see ADryStreamWaitsWithoutTryingAndWakesOnTheNextEdge).
  if (start_recv(q.op, *a, buf.data(), buf.size())) {
    poll_until_idle();
    EXPECT_EQ(q.completions, 1);
    EXPECT_EQ(q.res, 1);
  } else {
    EXPECT_EQ(q.op.res, 1);
  }
}

// The readiness cache. A read that came back short left the stream dry:
// the next read waits at once (it would only hear EAGAIN), and the edge of
// the next bytes completes it. A read that filled its buffer may have left
// more: the next one is tried inline.
TEST_F(epoll_direct, ADryStreamWaitsWithoutTryingAndWakesOnTheNextEdge) {
  auto [a, b] = make_socket_pair();
  std::array<char, 2> buf;
  probe first;
  ASSERT_TRUE(start_recv(first.op, *a, buf.data(), buf.size()));  // nothing yet: registered
  send_byte(b);
  poll_until_idle();
  EXPECT_EQ(first.res, 1) << "1 of 2 bytes: short, the stream is dry now";
  // The bytes are there, but no edge has been fetched since the short
  // read: the read waits instead of trying, and the next poll finds them.
  send_byte(b);
  send_byte(b);
  probe waits;
  ASSERT_TRUE(start_recv(waits.op, *a, buf.data(), buf.size()));
  poll_until_idle();
  EXPECT_EQ(waits.completions, 1);
  EXPECT_EQ(waits.res, 2) << "a full buffer";
  // Full: more may be there, so the next read is tried at once.
  send_byte(b);
  probe inline_read;
  EXPECT_FALSE(start_recv(inline_read.op, *a, buf.data(), buf.size()));
  EXPECT_EQ(inline_read.op.res, 1);
}

// The last bytes and the peer's FIN arrive together: the read that takes
// the bytes (short) also consumes the FIN, and no new edge will come. The
// event said the peer closed its side, so the next read is still tried and
// sees the end at once instead of waiting for ever.
TEST_F(epoll_direct, EndOfStreamBehindTheLastBytesIsSeenByTheNextRead) {
  auto [a, b] = make_socket_pair();
  std::array<char, 8> buf;
  probe first;
  ASSERT_TRUE(start_recv(first.op, *a, buf.data(), buf.size()));  // registered, waiting
  send_byte(b);
  ASSERT_EQ(::shutdown(static_cast<int>(b->handle), SHUT_WR), 0);
  poll_until_idle();
  ASSERT_EQ(first.completions, 1);
  EXPECT_EQ(first.res, 1);
  probe end;
  if (start_recv(end.op, *a, buf.data(), buf.size())) {
    // Not fetched yet: a bounded number of non-blocking polls must find it
    // (each few turns asks epoll; a blocking poll would hang on the bug).
    for (int i = 0; i < 64 && end.completions == 0; ++i) io->poll(false);
    ASSERT_EQ(end.completions, 1) << "the end of the stream was never delivered";
    EXPECT_EQ(end.res, 0);
  } else {
    EXPECT_EQ(end.op.res, 0);
  }
}

TEST_F(epoll_direct, ReadinessRetriesTheReadAndCompletesIt) {
  auto [a, b] = make_socket_pair();
  probe p;
  std::array<char, 8> buf;
  ASSERT_TRUE(start_recv(p.op, *a, buf.data(), buf.size()));
  io->poll(false);  // nothing ready yet
  EXPECT_EQ(p.completions, 0);
  send_byte(b);
  io->poll(true);
  EXPECT_EQ(p.completions, 1);
  EXPECT_EQ(p.res, 1);
  // The peer goes away: the next read sees EOF through the same registration.
  probe q;
  ASSERT_TRUE(start_recv(q.op, *a, buf.data(), buf.size()));
  b.reset();
  io->poll(true);
  EXPECT_EQ(q.completions, 1);
  EXPECT_EQ(q.res, 0);
}

// Timers: many thousands, fired in deadline order, never early; cancelled
// ones complete once, with ECANCELED, and are never fired.
// The inline budget is per resumption, not per poll: when a burst of 200
// connections becomes readable in one poll, each resumed coroutine's next
// operation still finishes inline (a budget shared by the poll would defer
// all but the first 64, each holding its buffer until the next poll). One
// coroutine that keeps finishing inline is still cut off after the budget.
TEST_F(epoll_direct, EveryResumptionOfABurstGetsTheWholeInlineBudget) {
  constexpr int burst = 200;
  std::vector<socket_pair> pairs;
  std::vector<std::unique_ptr<probe>> waits(burst);
  std::array<char, 8> buf;
  int inline_after_resume = 0;
  for (int i = 0; i < burst; ++i) {
    pairs.push_back(make_socket_pair());
    waits[i] = std::make_unique<probe>();
    auto& a = *pairs.back().a;
    waits[i]->then = [&] {
      // As the resumed coroutine would: read what arrived.
      probe read;
      if (!start_recv(read.op, a, buf.data(), 1)) ++inline_after_resume;
    };
    ASSERT_TRUE(start_wait_readable(waits[i]->op, a));
  }
  for (auto& p : pairs) send_byte(p.b);
  poll_until_idle();
  for (auto& w : waits) EXPECT_EQ(w->completions, 1);
  EXPECT_EQ(inline_after_resume, burst);

  // One socket whose data is always there: inline up to the budget, then
  // through the next poll.
  auto [a, b] = make_socket_pair();
  probe first;
  ASSERT_TRUE(start_wait_readable(first.op, *a));
  for (int i = 0; i < detail::epoll_backend::inline_budget + 1; ++i) send_byte(b);
  int inline_reads = 0;
  bool deferred = false;
  std::vector<std::unique_ptr<probe>> reads;
  first.then = [&] {
    for (int i = 0; i <= detail::epoll_backend::inline_budget && !deferred; ++i) {
      reads.push_back(std::make_unique<probe>());
      if (start_recv(reads.back()->op, *a, buf.data(), 1)) {
        deferred = true;
      } else {
        ++inline_reads;
      }
    }
  };
  poll_until_idle();
  EXPECT_EQ(inline_reads, detail::epoll_backend::inline_budget);
  EXPECT_TRUE(deferred);
  EXPECT_EQ(reads.back()->completions, 1);
  EXPECT_EQ(reads.back()->res, 1);
}

TEST_F(epoll_direct, TimersFireInDeadlineOrderNeverEarlyAndCancelledOnesAreReaped) {
  constexpr int count = 20000;
  const std::int64_t start = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 clock::now().time_since_epoch())
                                 .count();
  std::vector<probe> timers(count);
  std::vector<std::int64_t> fired_deadlines;
  fired_deadlines.reserve(count);
  std::mt19937 gen(17);
  for (int i = 0; i < count; ++i) {
    // Within 20 ms, many sharing a deadline.
    timers[i].op.code = detail::op_code::timer;
    timers[i].op.args.deadline_ns = start + static_cast<std::int64_t>(gen() % 200) * 100'000;
    const std::int64_t deadline = timers[i].op.args.deadline_ns;
    timers[i].then = [&fired_deadlines, &timers, deadline, i] {
      if (timers[i].res != 0) return;
      auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     clock::now().time_since_epoch())
                     .count();
      EXPECT_GE(now, deadline) << "timer fired early";
      fired_deadlines.push_back(deadline);
    };
    ASSERT_TRUE(io->start(timers[i].op));
  }
  EXPECT_EQ(io->in_flight(), count);
  int cancelled = 0;
  for (int i = 0; i < count; i += 3) {
    io->cancel(timers[i].op);
    ++cancelled;
  }
  poll_until_idle();
  EXPECT_EQ(io->in_flight(), 0);
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(timers[i].completions, 1) << i;
    EXPECT_EQ(timers[i].res, i % 3 == 0 ? -ECANCELED : 0) << i;
  }
  EXPECT_EQ(fired_deadlines.size(), static_cast<std::size_t>(count - cancelled));
  EXPECT_TRUE(std::is_sorted(fired_deadlines.begin(), fired_deadlines.end()));
}

// Lesson 2 with a real epoll_ctl failure: two cores for one descriptor make
// the second registration EEXIST. The operation finishes at once with it.
TEST_F(epoll_direct, FailedRegistrationFinishesTheOperationAtOnceWithItsError) {
  auto [a, b] = make_socket_pair();
  detail::socket_core alias;
  alias.handle = a->handle;
  probe first, second;
  std::array<char, 8> buf;
  ASSERT_TRUE(start_recv(first.op, *a, buf.data(), buf.size()));
  EXPECT_FALSE(start_recv(second.op, alias, buf.data(), buf.size()));
  EXPECT_EQ(second.op.res, -EEXIST);
  EXPECT_EQ(second.completions, 0);
  EXPECT_EQ(io->in_flight(), 1);
  io->cancel(first.op);
  io->poll(false);
  EXPECT_EQ(first.res, -ECANCELED);
}

// TRICKY, the classic use-after-free: one epoll_wait returns events for two
// sockets; the completion run for the first closes (and frees) the second,
// whose event is next in the same batch. ASan fails this test if that event
// touches the freed socket.
TEST_F(epoll_direct, SocketClosedEarlierInTheSameBatchIsNotTouched) {
  auto first = make_socket_pair();
  auto second = make_socket_pair();
  std::array<char, 8> buf;
  // Register the second socket with this epoll (a read waits, then completes).
  probe warm;
  ASSERT_TRUE(start_recv(warm.op, *second.a, buf.data(), buf.size()));
  send_byte(second.b);
  io->poll(true);
  ASSERT_EQ(warm.completions, 1);
  // A read waits on the first socket; when it completes, it closes the second
  // one, which has no operation but an event of its own in the same batch
  // (epoll reports ready sockets in the order they became ready).
  probe reader;
  socket_pair third;
  probe late;
  std::array<char, 8> late_buf;
  reader.then = [&] {
    second.a.reset();
    // A socket that starts waiting now, in the same batch, gets a
    // registration of its own, never the closed socket's.
    third = make_socket_pair();
    EXPECT_TRUE(start_recv(late.op, *third.a, late_buf.data(), late_buf.size()));
  };
  ASSERT_TRUE(start_recv(reader.op, *first.a, buf.data(), buf.size()));
  send_byte(first.b);
  send_byte(second.b);
  io->poll(true);
  EXPECT_EQ(reader.completions, 1);
  EXPECT_EQ(reader.res, 1);
  EXPECT_EQ(late.completions, 0);
  io->cancel(late.op);
  io->poll(false);
  EXPECT_EQ(late.res, -ECANCELED);
}

// A socket registered here and closed on another thread: its registration
// goes back to this worker's pool through the next poll, not under its feet.
TEST_F(epoll_direct, SocketClosedOnAnotherThreadIsHandedBack) {
  for (int round = 0; round < 50; ++round) {
    auto [a, b] = make_socket_pair();
    probe p;
    std::array<char, 8> buf;
    ASSERT_TRUE(start_recv(p.op, *a, buf.data(), buf.size()));
    send_byte(b);
    io->poll(true);
    ASSERT_EQ(p.completions, 1);
    send_byte(b);  // an event with no operation waiting, maybe fetched below
    std::thread closer([&a] { a.reset(); });
    io->poll(false);
    closer.join();
    io->poll(false);
  }
}

// A socket that outlives the backend it waited on closes cleanly later.
TEST_F(epoll_direct, SocketOutlivingItsBackendClosesCleanly) {
  auto [a, b] = make_socket_pair();
  probe p;
  std::array<char, 8> buf;
  ASSERT_TRUE(start_recv(p.op, *a, buf.data(), buf.size()));
  send_byte(b);
  io->poll(true);
  ASSERT_EQ(p.completions, 1);
  io.reset();
  a.reset();  // ASan: must not reach the destroyed backend
}

}  // namespace
}  // namespace corio::test
