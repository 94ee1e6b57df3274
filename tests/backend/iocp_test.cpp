// tests/backend/iocp_test.cpp: what only the IOCP backend has to get right:
// synchronous completions with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS and their
// budget, CancelIoEx racing a completion, an AcceptEx whose listener closes
// under it, posts that the kernel refuses (lesson 2), and a timer cancelled
// before it starts. Windows only (compiled under if(WIN32)); white-box where
// it has to be: it reads the backend's counters.
#include <gtest/gtest.h>

#include "backend/iocp/iocp_backend.hpp"  // white-box: counters and hooks
// iocp_backend.hpp first: it includes <winsock2.h> before <windows.h>.

#include <array>
#include <atomic>
#include <random>
#include <stop_token>
#include <thread>
#include <vector>

#include "core/runtime_impl.hpp"
#include "corio/cancel.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

class iocp_test : public runtime_test {
 protected:
  void SetUp() override {
    runtime_test::SetUp();
    if (rt.backend() != backend_kind::iocp) GTEST_SKIP() << "the suite runs on another backend";
  }
};

// The counters of every backend of the calling worker's runtime, added up.
detail::iocp_backend::counters iocp_totals() {
  auto& rt = detail::worker::current()->rt();
  detail::iocp_backend::counters sum;
  for (unsigned i = 0; i < rt.size(); ++i) {
    auto c = static_cast<detail::iocp_backend&>(rt.at(i).io()).stats();
    sum.inline_completions += c.inline_completions;
    sum.budget_deferrals += c.budget_deferrals;
  }
  return sum;
}

// Waits, without sleeping, until `n` operations are in the kernel.
task<void> until_in_flight(runtime& rt, std::int64_t n) {
  while (rt.operations_in_flight() < n) co_await yield();
}

// A plain blocking Winsock client connected to `port`, which corio never
// sees (so never associates with its port): the tests send from it on
// threads of their own.
SOCKET raw_connect(std::uint16_t port) {
  SOCKET s = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = ::htons(port);
  to.sin_addr.s_addr = ::htonl(INADDR_LOOPBACK);
  if (s == INVALID_SOCKET || ::connect(s, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    ADD_FAILURE() << "raw connect failed: " << ::WSAGetLastError();
  }
  return s;
}

// Many small writes that each complete synchronously: every byte arrives,
// in order; most writes finish without a packet; and the inline budget
// makes the writer give its worker back, so a coroutine queued behind it on
// the same worker runs while the writes go on.
TEST_F(iocp_test, SynchronousCompletionsSkipThePortAndTheBudgetMakesTheWriterYield) {
  run([]() -> task<void> {
    constexpr int writes = 5000;
    auto [client, server] = co_await connected_pair();
    const auto before = iocp_totals();
    std::vector<unsigned char> got;
    bool writing = true;          // only touched on this worker
    int turns_while_writing = 0;  // likewise
    scope s;
    s.spawn([](net::tcp_stream& server, std::vector<unsigned char>& got) -> task<void> {
      std::array<unsigned char, 4096> buf;
      for (;;) {
        auto n = co_await server.read(buf);
        EXPECT_TRUE(n) << n.error().message();
        if (!n || *n == 0) co_return;
        got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
      }
    }(server, got));
    // Queued on this worker, behind the writer: runs only when it yields.
    s.spawn_local([](bool& writing, int& turns) -> task<void> {
      while (writing) {
        ++turns;
        co_await yield();
      }
    }(writing, turns_while_writing));
    for (int i = 0; i < writes; ++i) {
      const auto b = static_cast<unsigned char>(i % 251);
      auto w = co_await client.write(std::span(&b, 1));
      CO_ASSERT(w && *w == 1);
    }
    const int turns = turns_while_writing;
    writing = false;
    EXPECT_TRUE(client.shutdown());
    co_await s.join();

    CO_ASSERT(got.size() == static_cast<std::size_t>(writes));
    for (int i = 0; i < writes; ++i) {
      CO_ASSERT(got[static_cast<std::size_t>(i)] == static_cast<unsigned char>(i % 251));
    }
    const auto after = iocp_totals();
    EXPECT_GE(after.inline_completions - before.inline_completions, writes / 2)
        << "synchronous successes should skip the port";
    EXPECT_GE(after.budget_deferrals - before.budget_deferrals,
              writes / detail::iocp_backend::inline_budget / 2)
        << "the inline budget never held a completion back";
    EXPECT_GT(turns, 0) << "the writer never gave its worker back";
  }());
}

// A pending read, data arriving and a cancel, racing from two other
// threads in every order: each round has exactly one outcome (the data, or
// operation_canceled), never a hang; a byte that the cancelled read did not
// return is the next read's, and no byte is returned twice.
TEST_F(iocp_test, CancelIoExRacingACompletionHasOneOutcomeAndLosesNoByte) {
  constexpr int rounds = 300;
  run(
      [](runtime& rt) -> task<void> {
        auto listener = listen_loopback();
        const SOCKET peer = raw_connect(port_of(listener));
        auto accepted = co_await listener.accept();
        CO_ASSERT(accepted);
        net::tcp_stream server = std::move(*accepted);
        std::mt19937 rng(5);
        int data_won = 0, cancel_won = 0;
        for (int i = 0; i < rounds; ++i) {
          const auto byte = static_cast<char>(i);
          std::stop_source stop;
          std::array<char, 16> buf{};
          result<std::size_t> got = 0;
          scope s;
          s.spawn_local([](net::tcp_stream& server, std::stop_token tok, std::array<char, 16>& buf,
                           result<std::size_t>& got) -> task<void> {
            got = co_await with_stop(server.read(buf), tok);
          }(server, stop.get_token(), buf, got));
          co_await until_in_flight(rt, 1);

          const unsigned order = rng() % 3;
          const unsigned spin = rng() % 4000;
          std::thread racer([&stop, peer, byte, order, spin] {
            auto send_it = [&] { ::send(peer, &byte, 1, 0); };
            auto pause = [spin] {
              volatile unsigned sink = 0;
              for (unsigned k = 0; k < spin; ++k) sink = k;
              (void)sink;
            };
            if (order == 0) {
              send_it();
              pause();
              stop.request_stop();
            } else if (order == 1) {
              stop.request_stop();
              pause();
              send_it();
            } else {
              std::thread sender(send_it);
              stop.request_stop();
              sender.join();
            }
          });
          co_await s.join();
          racer.join();  // the send has been made

          if (got) {
            ++data_won;
            CO_ASSERT(*got == 1);
            CO_ASSERT(buf[0] == byte);
          } else {
            ++cancel_won;
            CO_ASSERT(got.error() == std::errc::operation_canceled);
            // Not returned, so not consumed: the next read has it.
            auto n = co_await server.read(buf);
            CO_ASSERT(n && *n == 1);
            CO_ASSERT(buf[0] == byte);
          }
        }
        EXPECT_GT(cancel_won, 0);
        EXPECT_GT(data_won, 0);
        ::closesocket(peer);
      }(rt),
      std::chrono::seconds(50));
}

// An AcceptEx pending on a listener that is closed: the accept completes
// with an error (no hang), and the socket made for the connection is closed
// (no leak).
TEST_F(iocp_test, AcceptExOnAListenerClosedUnderItFailsAndLeaksNothing) {
  run([](runtime& rt) -> task<void> {
    const std::int64_t sockets_before = detail::win::open_socket_count();
    auto listener = listen_loopback();
    result<net::tcp_stream> got = fail(errc::not_open);
    scope s;
    s.spawn_local([](net::tcp_listener& l, result<net::tcp_stream>& got) -> task<void> {
      got = co_await l.accept();
    }(listener, got));
    co_await until_in_flight(rt, 1);
    // The listener and the socket AcceptEx is to fill.
    EXPECT_EQ(detail::win::open_socket_count(), sockets_before + 2);
    listener.close();
    co_await s.join();
    CO_ASSERT(!got);
    EXPECT_TRUE(got.error() == std::errc::operation_canceled ||
                got.error() == std::errc::connection_aborted)
        << got.error().message();
    EXPECT_EQ(detail::win::open_socket_count(), sockets_before) << "a socket leaked";
  }(rt));
}

// Lesson 2 for posts (asio#312): while the kernel refuses every packet,
// nothing posted is lost. Spawns across workers, block_on's own post, a
// timer and a cancelled timer (delivered by packet) all still run.
TEST_F(iocp_test, PostsTheKernelRefusesAreKeptAndRun) {
  detail::refuse_next_posts(1'000'000);
  std::atomic<int> ran{0};
  auto canceled = run([](std::atomic<int>& ran) -> task<bool> {
    scope s;
    for (int i = 0; i < 200; ++i) {
      s.spawn([](std::atomic<int>& ran) -> task<void> {
        co_await yield();
        ran.fetch_add(1);
      }(ran));
    }
    co_await s.join();
    auto slept = co_await sleep_for(std::chrono::milliseconds(2));
    EXPECT_TRUE(slept);
    std::stop_source stop;
    std::thread other([&stop] { stop.request_stop(); });
    auto t = co_await with_stop(sleep_for(std::chrono::hours(1)), stop.get_token());
    other.join();
    co_return !t && t.error() == std::errc::operation_canceled;
  }(ran));
  detail::refuse_next_posts(0);
  EXPECT_EQ(ran.load(), 200);
  EXPECT_TRUE(canceled);
}

// with_timeout starts its timer after the operation, whose completion (on
// another worker) may cancel the timer first: that cancel must stick.
TEST_F(iocp_test, TimerCancelledBeforeItStartsFinishesAtOnceAsCancelled) {
  run([]() -> task<void> {
    auto& b = detail::worker::current()->io();
    const auto before = b.in_flight();
    detail::operation op;
    detail::prepare_timer(op, clock::now() + std::chrono::hours(1));
    b.cancel(op);
    EXPECT_FALSE(b.start(op)) << "a cancelled timer must not be queued";
    EXPECT_EQ(detail::error_from_result(op.res), std::errc::operation_canceled);
    EXPECT_EQ(b.in_flight(), before);
    co_return;
  }());
}

// Every error the backend reports compares equal to the portable value,
// whichever of the Win32 and Winsock words said it.
TEST(iocp_errors, Win32AndWinsockCodesCompareEqualToPortableErrors) {
  using detail::error_from_result;
  using detail::win::res_from_win32;
  EXPECT_EQ(error_from_result(res_from_win32(WSAECONNREFUSED)), std::errc::connection_refused);
  EXPECT_EQ(error_from_result(res_from_win32(ERROR_CONNECTION_REFUSED)),
            std::errc::connection_refused);
  EXPECT_EQ(error_from_result(res_from_win32(WSAECONNRESET)), std::errc::connection_reset);
  EXPECT_EQ(error_from_result(res_from_win32(ERROR_NETNAME_DELETED)), std::errc::connection_reset);
  EXPECT_EQ(error_from_result(res_from_win32(ERROR_OPERATION_ABORTED)),
            std::errc::operation_canceled);
  EXPECT_EQ(error_from_result(res_from_win32(WSAEADDRINUSE)), std::errc::address_in_use);
  EXPECT_EQ(error_from_result(res_from_win32(WSAETIMEDOUT)), std::errc::timed_out);
  // Portable values (lib/core's, the injection hook's) stay generic.
  EXPECT_EQ(error_from_result(detail::injected_failure_res),
            std::errc::resource_unavailable_try_again);
  // The native code survives, with the system's message.
  auto ec = error_from_result(res_from_win32(WSAECONNREFUSED));
  EXPECT_EQ(ec.value(), WSAECONNREFUSED);
  EXPECT_FALSE(ec.message().empty());
  // A code without a portable meaning stays itself.
  EXPECT_NE(error_from_result(res_from_win32(ERROR_FILE_NOT_FOUND)), std::errc::connection_reset);
}

}  // namespace
}  // namespace corio::test
