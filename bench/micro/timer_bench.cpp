// bench/micro/timer_bench.cpp: timers that are armed and cancelled before
// they fire: every idle timeout of a busy connection is one, re-armed on
// each read. `bg:N` keeps N other timers pending meanwhile (idle timeouts of
// other connections, each earlier than the one measured), as a server with
// N connections has.
//   timer_arm_cancel/bg:N
//       corio: a backend timer started and cancelled at once, the coroutine
//       resuming when the cancelled timer completes: exactly the timer half of
//       with_timeout (detail::start of a timer + detail::cancel_owned).
//       Asio: steady_timer::expires_after(1h) + async_wait + cancel, the
//       coroutine resuming with operation_aborted.
//   read_ready_idle_timeout/bg:N
//       the realistic pattern: a read that completes at once, bounded by a 1 h
//       idle timeout armed for it and cancelled after it.
//       corio: with_timeout(read, 1h).
//       Asio: expires_after(1h) + async_wait(cancel the socket) before the
//       read, timer.cancel() after it (its aborted handler runs too).
//       Compare with read_ready (io_bench.cpp), the same read unbounded.
#include "common.hpp"

namespace micro {
namespace {

using namespace std::chrono_literals;

constexpr auto long_timeout = 1h;
constexpr auto background_timeout = 30min;  // earlier than long_timeout

// ---- corio --------------------------------------------------------------

// Starts a backend timer and cancels it at once; resumes when the cancelled
// timer has completed (res = -ECANCELED).
class arm_cancel_awaiter {
 public:
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    op_.waiter = h;
    corio::detail::prepare_timer(op_, corio::clock::now() + long_timeout);
    if (!corio::detail::start(op_)) return false;
    corio::detail::cancel_owned(corio::detail::current_backend(), op_);
    return true;
  }
  std::int64_t await_resume() const noexcept { return op_.res; }

 private:
  corio::detail::operation op_;
};

// Holds `n` pending timers on the calling worker until stop() (all of them
// cancelled and joined).
class corio_background {
 public:
  corio::task<void> start(int n) {
    for (int i = 0; i < n; ++i) {
      s_.spawn_local([](std::stop_token tok) -> corio::task<void> {
        (void)co_await corio::with_stop(corio::sleep_for(background_timeout), tok);
      }(s_.token()));
    }
    // The sleepers run (and queue their timers) before we go on.
    co_await corio::yield();
  }
  corio::task<void> stop() {
    s_.request_stop();
    co_await s_.join();
  }

 private:
  corio::scope s_;
};

void corio_timer_arm_cancel(benchmark::State& st, corio::backend_kind kind) {
  corio_runtime(kind, 1).block_on([](benchmark::State& st) -> corio::task<void> {
    corio_background bg;
    co_await bg.start(static_cast<int>(st.range(0)));
    for (auto _ : measured(st)) {
      auto res = co_await arm_cancel_awaiter{};
      if (res != -ECANCELED) st.SkipWithError("timer was not cancelled");
    }
    co_await bg.stop();
  }(st));
}

void corio_read_idle_timeout(benchmark::State& st, corio::backend_kind kind) {
  ready_pair pair;
  auto stream = adopt_stream(pair.reader());
  pair.release_reader();
  corio_runtime(kind, 1).block_on(
      [](benchmark::State& st, ready_pair& pair, corio::net::tcp_stream& s) -> corio::task<void> {
        corio_background bg;
        co_await bg.start(static_cast<int>(st.range(0)));
        std::array<char, 1> buf;
        for (auto _ : measured(st)) {
          auto n = co_await corio::with_timeout(s.read(buf), long_timeout);
          if (!n || *n != 1) {
            st.SkipWithError("read failed");
            break;
          }
          pair.consumed(1);
        }
        co_await bg.stop();
      }(st, pair, stream));
}

// ---- Asio ---------------------------------------------------------------

// `n` pending timers on one io_context until stop() cancels them.
class asio_background {
 public:
  asio_background(asio::io_context& ctx, int n) {
    timers_.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      timers_.emplace_back(ctx, background_timeout);
      timers_.back().async_wait([](asio::error_code) {});
    }
  }
  void stop() {
    for (auto& t : timers_) t.cancel();
  }

 private:
  std::vector<asio::steady_timer> timers_;
};

void asio_timer_arm_cancel(benchmark::State& st) {
  asio::io_context ctx(1);
  asio_background bg(ctx, static_cast<int>(st.range(0)));
  asio_run(ctx, [](benchmark::State& st, asio_background& bg) -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor);
    asio::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    for (auto _ : measured(st)) {
      co_await asio::async_initiate<decltype(token), void(asio::error_code)>(
          [&t](auto handler) {
            t.expires_after(long_timeout);
            t.async_wait(std::move(handler));
            t.cancel();
          },
          token);
      if (ec != asio::error::operation_aborted) st.SkipWithError("timer was not cancelled");
    }
    bg.stop();
  }(st, bg));
}

void asio_read_idle_timeout(benchmark::State& st) {
  ready_pair pair;
  asio::io_context ctx(1);
  asio::local::stream_protocol::socket sock(ctx);
  sock.assign(asio::local::stream_protocol(), pair.reader());
  pair.release_reader();
  asio_background bg(ctx, static_cast<int>(st.range(0)));
  asio_run(ctx, [](benchmark::State& st, ready_pair& pair, asio::local::stream_protocol::socket& s,
                   asio_background& bg) -> asio::awaitable<void> {
    asio::steady_timer idle(co_await asio::this_coro::executor);
    std::array<char, 1> buf;
    for (auto _ : measured(st)) {
      idle.expires_after(long_timeout);
      idle.async_wait([&s](asio::error_code ec) {
        if (!ec) s.cancel();  // the idle timeout fired: end the read
      });
      std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
      idle.cancel();
      if (n != 1) {
        st.SkipWithError("read failed");
        break;
      }
      pair.consumed(1);
    }
    bg.stop();
  }(st, pair, sock, bg));
}

void background_args(benchmark::internal::Benchmark* b) {
  b->ArgName("bg")->Arg(0)->Arg(1000)->Arg(10000);
}

}  // namespace

void register_timer_benchmarks() {
  each(register_corio("timer_arm_cancel", corio_timer_arm_cancel), background_args);
  background_args(register_asio("timer_arm_cancel", asio_timer_arm_cancel));
  each(register_corio("read_ready_idle_timeout", corio_read_idle_timeout), background_args);
  background_args(register_asio("read_ready_idle_timeout", asio_read_idle_timeout));
}

}  // namespace micro
