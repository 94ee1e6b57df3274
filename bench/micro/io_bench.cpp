// bench/micro/io_bench.cpp: the cheapest trips through each runtime.
//   post_resume                a coroutine re-queues itself on its own thread
//                              and is resumed: corio::yield(), asio::post(ex)
//                              (asio-bare: without a reactor, see start_reactor)
//   noop_backend_round_trip    the cheapest operation that goes through the
//                              kernel side of the runtime and back: corio
//                              sleeps until a deadline already past (one
//                              io_uring timeout; epoll: its timer path); Asio
//                              waits on a timer already expired (its reactor)
//   read_ready                 one 1-byte read on a socket that has data, so
//                              it completes at once: the runtime's cost of one
//                              I/O operation
#include "common.hpp"

namespace micro {
namespace {

// ---- post_resume --------------------------------------------------------

void corio_post_resume(benchmark::State& st, corio::backend_kind kind) {
  corio_runtime(kind, 1).block_on([](benchmark::State& st) -> corio::task<void> {
    for (auto _ : measured(st)) co_await corio::yield();
  }(st));
}

template <bool Reactor>
void asio_post_resume(benchmark::State& st) {
  asio::io_context ctx(1);
  if (Reactor) start_reactor(ctx);
  asio_run(ctx, [](benchmark::State& st) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    for (auto _ : measured(st)) co_await asio::post(ex, asio::use_awaitable);
  }(st));
}

// ---- noop_backend_round_trip --------------------------------------------

void corio_noop_round_trip(benchmark::State& st, corio::backend_kind kind) {
  corio_runtime(kind, 1).block_on([](benchmark::State& st) -> corio::task<void> {
    const corio::clock::time_point past{};
    for (auto _ : measured(st)) {
      auto r = co_await corio::sleep_until(past);
      if (!r) st.SkipWithError(r.error().message().c_str());
    }
  }(st));
}

void asio_noop_round_trip(benchmark::State& st) {
  asio::io_context ctx(1);
  asio_run(ctx, [](benchmark::State& st) -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (auto _ : measured(st)) {
      t.expires_at(asio::steady_timer::time_point{});
      co_await t.async_wait(asio::use_awaitable);
    }
  }(st));
}

// ---- read_ready ---------------------------------------------------------

void corio_read_ready(benchmark::State& st, corio::backend_kind kind) {
  ready_pair pair;
  auto stream = adopt_stream(pair.reader());
  pair.release_reader();
  corio_runtime(kind, 1).block_on(
      [](benchmark::State& st, ready_pair& pair, corio::net::tcp_stream& s) -> corio::task<void> {
        std::array<char, 1> buf;
        for (auto _ : measured(st)) {
          auto n = co_await s.read(buf);
          if (!n || *n != 1) {
            st.SkipWithError("read failed");
            break;
          }
          pair.consumed(1);
        }
      }(st, pair, stream));
}

void asio_read_ready(benchmark::State& st) {
  ready_pair pair;
  asio::io_context ctx(1);
  asio::local::stream_protocol::socket sock(ctx);
  sock.assign(asio::local::stream_protocol(), pair.reader());
  pair.release_reader();
  asio_run(ctx, [](benchmark::State& st, ready_pair& pair,
                   asio::local::stream_protocol::socket& s) -> asio::awaitable<void> {
    std::array<char, 1> buf;
    for (auto _ : measured(st)) {
      std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
      if (n != 1) {
        st.SkipWithError("read failed");
        break;
      }
      pair.consumed(1);
    }
  }(st, pair, sock));
}

}  // namespace

void register_io_benchmarks() {
  register_corio("post_resume", corio_post_resume);
  register_asio("post_resume", asio_post_resume<true>);
  register_asio("post_resume", asio_post_resume<false>, "asio-bare");
  register_corio("noop_backend_round_trip", corio_noop_round_trip);
  register_asio("noop_backend_round_trip", asio_noop_round_trip);
  register_corio("read_ready", corio_read_ready);
  register_asio("read_ready", asio_read_ready);
}

}  // namespace micro
