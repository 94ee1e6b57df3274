// bench/micro/common.hpp: what every microbenchmark file shares: the corio
// runtimes (one per backend and thread count, kept for the whole run), the
// registration helpers that put each corio case beside its Asio equivalent,
// and the few Asio and socket helpers the cases need.
//
// Naming: "corio/<case>" runs on io_uring, "corio-epoll/<case>" on epoll
// (each only where that backend starts here), "asio/<case>" is Asio's
// equivalent. compare.py pairs them by <case>.
#pragma once

#include <benchmark/benchmark.h>

#include <asio.hpp>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "corio/corio.hpp"

namespace micro {

// ---- corio --------------------------------------------------------------

/// A backend the corio half runs on, and the name prefix of its cases.
struct corio_backend {
  corio::backend_kind kind;
  std::string prefix;  // "corio" (io_uring) or "corio-epoll"
};

/// The backends that start on this machine (probed once; CORIO_MICRO_BACKENDS
/// = "uring", "epoll" or "uring,epoll" narrows the list).
const std::vector<corio_backend>& corio_backends();

/// A runtime with `threads` workers on `kind`, started on first use and kept
/// until the end of the run. Aborts with a message when it cannot start.
corio::runtime& corio_runtime(corio::backend_kind kind, unsigned threads);

/// Stops every runtime corio_runtime started (end of main).
void stop_corio_runtimes();

/// A corio case: runs with the state and the backend to use.
using corio_case = void (*)(benchmark::State&, corio::backend_kind);

/// Registers `fn` once per backend as "<prefix>/<name>"; returns them, so
/// the caller can add arguments to each.
std::vector<benchmark::internal::Benchmark*> register_corio(std::string_view name, corio_case fn);
/// Registers "<prefix>/<name>": "asio" for Asio as a server runs it,
/// "asio-bare" for an io_context that owns no I/O object (see start_reactor).
benchmark::internal::Benchmark* register_asio(std::string_view name,
                                              void (*fn)(benchmark::State&),
                                              std::string_view prefix = "asio");

/// Every case measures wall time per iteration, and the CPU time of the
/// whole process (all worker threads), so two-thread cases are comparable.
inline benchmark::internal::Benchmark* common(benchmark::internal::Benchmark* b) {
  return b->UseRealTime()->MeasureProcessCPUTime();
}

/// Applies `configure` to every benchmark in `bs`.
template <class F>
void each(const std::vector<benchmark::internal::Benchmark*>& bs, F configure) {
  for (auto* b : bs) configure(b);
}

/// The state's iteration range, also measuring the process's user and
/// system CPU time over the timed loop: `for (auto _ : measured(st))` adds
/// the counters user_ns and sys_ns (per iteration), which say whether a
/// runtime's cost is its own bookkeeping or the kernel's work.
class measured {
 public:
  explicit measured(benchmark::State& st) noexcept : st_(st) {}
  class iterator {
   public:
    iterator(benchmark::State::StateIterator it, measured* m) noexcept : it_(it), m_(m) {}
    bool operator!=(const iterator& end) {
      if (it_ != end.it_) return true;  // the last comparison also stops the timer
      m_->finish();
      return false;
    }
    iterator& operator++() {
      ++it_;
      return *this;
    }
    auto operator*() const { return *it_; }

   private:
    benchmark::State::StateIterator it_;
    measured* m_;
  };
  iterator begin() {
    cpu_times(user0_, sys0_);
    return {st_.begin(), this};
  }
  iterator end() { return {st_.end(), this}; }

 private:
  static void cpu_times(double& user_ns, double& sys_ns) noexcept;
  void finish() {
    double user = 0, sys = 0;
    cpu_times(user, sys);
    st_.counters["user_ns"] = benchmark::Counter(user - user0_, benchmark::Counter::kAvgIterations);
    st_.counters["sys_ns"] = benchmark::Counter(sys - sys0_, benchmark::Counter::kAvgIterations);
  }
  benchmark::State& st_;
  double user0_ = 0, sys0_ = 0;
};

// ---- Asio ---------------------------------------------------------------

/// Makes `ctx` run its reactor, as every io_context that owns a socket or a
/// timer does: its run loop then polls epoll between handlers (epoll_wait
/// with a zero timeout while handlers are queued), and an idle thread waits
/// in epoll_wait and is woken through the reactor's interrupter. Without it
/// (the "asio-bare" cases) the scheduler runs handlers without a system
/// call and parks idle threads on a condition variable: Asio's best case,
/// which no networking server sees.
inline void start_reactor(asio::io_context& ctx) {
  // The timer service starts the reactor and keeps it for ctx's lifetime.
  asio::steady_timer t(ctx);
}

/// Runs `a` as the only coroutine of `ctx` on the calling thread until `ctx`
/// runs out of work; rethrows what escaped it.
template <class Awaitable>
void asio_run(asio::io_context& ctx, Awaitable a) {
  std::exception_ptr error;
  asio::co_spawn(ctx, std::move(a), [&](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error) std::rethrow_exception(error);
}

/// A countdown that an Asio coroutine can await: the coroutine resumes once
/// `n` parties have called done(). The same protocol as corio::scope::join
/// (the waiter holds one count itself, so whoever reaches zero resumes it).
class asio_join {
 public:
  explicit asio_join(int n) : count_(n + 1) {}
  void done() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) resume();
  }
  asio::awaitable<void> wait() {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
        [this](auto handler) {
          // One allocation per wait (per batch of jobs), never per job.
          resume_ = [h = std::move(handler)]() mutable { asio::post(std::move(h)); };
          if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) resume();
        },
        asio::use_awaitable);
  }

 private:
  // Posts the waiter's resumption to its executor (not inline: the waiter
  // may destroy *this as soon as it runs).
  void resume() {
    auto r = std::move(resume_);
    r();
  }
  std::atomic<int> count_;
  std::move_only_function<void()> resume_;
};

// ---- sockets ------------------------------------------------------------

/// An AF_UNIX stream pair whose reading end always has data: reads of up to
/// `chunk` bytes complete at once, so a read measures the runtime's cost of
/// one operation, not the network's. The writing end is refilled
/// synchronously (a few non-blocking writes per ~200 KB read).
class ready_pair {
 public:
  ready_pair();
  ~ready_pair();
  ready_pair(const ready_pair&) = delete;
  ready_pair& operator=(const ready_pair&) = delete;

  /// The reading end; the caller adopts it into a stream (then call
  /// release_reader so the destructor does not close it twice).
  int reader() const noexcept { return fds_[0]; }
  void release_reader() noexcept { fds_[0] = -1; }
  /// Call after each read of `n` bytes: refills when less than a read is left.
  void consumed(std::size_t n) {
    left_ -= n;
    if (left_ < 64) fill();
  }

 private:
  void fill();
  int fds_[2] = {-1, -1};
  std::size_t left_ = 0;
};

/// Wraps a connected descriptor in a corio stream (the stream then owns it).
corio::net::tcp_stream adopt_stream(int fd);

}  // namespace micro
