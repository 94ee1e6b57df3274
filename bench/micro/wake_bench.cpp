// bench/micro/wake_bench.cpp: waking another worker.
//   cross_worker_ping_pong   one iteration moves a coroutine to the other
//                            worker and back: two cross-thread wake-ups of a
//                            worker that is idle, waiting in its backend.
// corio hops with detail::resume_on (what sync primitives use to wake a
// waiter on its own worker). Asio has one io_context per thread, as its
// echo server does, and posts the continuation to the other io_context and
// back. As in a server, each context runs its reactor, so its idle thread
// waits in epoll_wait and is woken through the reactor's interrupter
// (asio-bare: parked on a condition variable instead; see start_reactor).
#include "common.hpp"

namespace micro {
namespace {

// Resumes the awaiting coroutine on the worker whose backend is `to`.
struct hop {
  void* to;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const noexcept { corio::detail::resume_on(to, h); }
  void await_resume() const noexcept {}
};

// The backend of a worker other than the calling one.
corio::task<void*> other_backend() {
  void* here = corio::detail::current_backend();
  void* there = here;
  corio::scope s;
  // spawn() goes round-robin over the workers: a few tries land elsewhere.
  for (int i = 0; i < 8 && there == here; ++i) {
    s.spawn([](void*& out) -> corio::task<void> {
      out = corio::detail::current_backend();
      co_return;
    }(there));
    co_await s.join();
  }
  co_return there;
}

void corio_ping_pong(benchmark::State& st, corio::backend_kind kind) {
  corio::runtime& rt = corio_runtime(kind, 2);
  rt.block_on([](benchmark::State& st, corio::runtime& rt) -> corio::task<void> {
    void* home = corio::detail::current_backend();
    void* away = co_await other_backend();
    if (away == home) {
      st.SkipWithError("could not reach a second worker");
      co_return;
    }
    const std::uint64_t entries = rt.metrics().total.kernel_entries;
    for (auto _ : measured(st)) {
      co_await hop{away};
      co_await hop{home};
    }
    // System calls into the kernel (io_uring_enter, epoll_wait) of both
    // workers per round trip.
    st.counters["kernel_entries"] = benchmark::Counter(
        static_cast<double>(rt.metrics().total.kernel_entries - entries),
        benchmark::Counter::kAvgIterations);
  }(st, rt));
}

template <bool Reactor>
void asio_ping_pong(benchmark::State& st) {
  asio::io_context home(1), away(1);
  if (Reactor) {
    start_reactor(home);
    start_reactor(away);
  }
  auto guard = asio::make_work_guard(away);
  std::thread away_thread([&] { away.run(); });
  asio_run(home, [](benchmark::State& st, asio::io_context& away) -> asio::awaitable<void> {
    for (auto _ : measured(st)) {
      co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
          [&away](auto handler) {
            asio::post(away, [h = std::move(handler)]() mutable {
              // Back to the coroutine's own executor (`home`).
              asio::post(std::move(h));
            });
          },
          asio::use_awaitable);
    }
  }(st, away));
  guard.reset();
  away_thread.join();
}

}  // namespace

void register_wake_benchmarks() {
  register_corio("cross_worker_ping_pong", corio_ping_pong);
  register_asio("cross_worker_ping_pong", asio_ping_pong<true>);
  register_asio("cross_worker_ping_pong", asio_ping_pong<false>, "asio-bare");
}

}  // namespace micro
