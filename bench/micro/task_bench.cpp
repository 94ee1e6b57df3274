// bench/micro/task_bench.cpp: the cost of coroutines themselves.
//   task_chain/depth:N    one iteration creates and awaits a chain of N
//                         nested trivial tasks (corio::task, asio::awaitable)
//   post_run/threads:T    one iteration posts 1,000 trivial coroutines to the
//                         runtime and waits for all of them: corio spawns into a
//                         scope (round-robin over T workers); Asio co_spawns onto
//                         one io_context run by T threads (asio-bare: without a
//                         reactor, see start_reactor)
#include "common.hpp"

namespace micro {
namespace {

constexpr int post_batch = 1000;

// ---- task_chain ---------------------------------------------------------

corio::task<int> corio_chain(int n) {
  if (n <= 1) co_return 1;
  co_return 1 + co_await corio_chain(n - 1);
}

void corio_task_chain(benchmark::State& st, corio::backend_kind kind) {
  const int depth = static_cast<int>(st.range(0));
  corio_runtime(kind, 1).block_on([](benchmark::State& st, int depth) -> corio::task<void> {
    long sum = 0;
    for (auto _ : measured(st)) sum += co_await corio_chain(depth);
    benchmark::DoNotOptimize(sum);
  }(st, depth));
  st.SetItemsProcessed(st.iterations() * depth);
}

asio::awaitable<int> asio_chain(int n) {
  if (n <= 1) co_return 1;
  co_return 1 + co_await asio_chain(n - 1);
}

void asio_task_chain(benchmark::State& st) {
  const int depth = static_cast<int>(st.range(0));
  asio::io_context ctx(1);
  asio_run(ctx, [](benchmark::State& st, int depth) -> asio::awaitable<void> {
    long sum = 0;
    for (auto _ : measured(st)) sum += co_await asio_chain(depth);
    benchmark::DoNotOptimize(sum);
  }(st, depth));
  st.SetItemsProcessed(st.iterations() * depth);
}

// ---- post_run -----------------------------------------------------------

corio::task<void> corio_job() { co_return; }

void corio_post_run(benchmark::State& st, corio::backend_kind kind) {
  const auto threads = static_cast<unsigned>(st.range(0));
  corio_runtime(kind, threads).block_on([](benchmark::State& st) -> corio::task<void> {
    corio::scope s;
    for (auto _ : measured(st)) {
      for (int i = 0; i < post_batch; ++i) s.spawn(corio_job());
      co_await s.join();
    }
  }(st));
  st.SetItemsProcessed(st.iterations() * post_batch);
}

asio::awaitable<void> asio_job() { co_return; }

template <bool Reactor>
void asio_post_run(benchmark::State& st) {
  const auto threads = static_cast<int>(st.range(0));
  asio::io_context ctx(threads);
  if (Reactor) start_reactor(ctx);
  std::exception_ptr error;
  asio::co_spawn(
      ctx,
      [](benchmark::State& st, asio::io_context& ctx) -> asio::awaitable<void> {
        for (auto _ : measured(st)) {
          asio_join join(post_batch);
          for (int i = 0; i < post_batch; ++i) {
            asio::co_spawn(ctx, asio_job(), [&join](std::exception_ptr) { join.done(); });
          }
          co_await join.wait();
        }
      }(st, ctx),
      [&](std::exception_ptr e) { error = e; });
  // The driver's work keeps every run() going until it has finished.
  std::vector<std::thread> extra;
  for (int i = 1; i < threads; ++i) extra.emplace_back([&] { ctx.run(); });
  ctx.run();
  for (auto& t : extra) t.join();
  if (error) std::rethrow_exception(error);
  st.SetItemsProcessed(st.iterations() * post_batch);
}

}  // namespace

void register_task_benchmarks() {
  each(register_corio("task_chain", corio_task_chain),
       [](auto* b) { b->ArgName("depth")->Arg(1)->Arg(64); });
  register_asio("task_chain", asio_task_chain)->ArgName("depth")->Arg(1)->Arg(64);
  each(register_corio("post_run", corio_post_run),
       [](auto* b) { b->ArgName("threads")->Arg(1)->Arg(2); });
  register_asio("post_run", asio_post_run<true>)->ArgName("threads")->Arg(1)->Arg(2);
  register_asio("post_run", asio_post_run<false>, "asio-bare")
      ->ArgName("threads")->Arg(1)->Arg(2);
}

}  // namespace micro
