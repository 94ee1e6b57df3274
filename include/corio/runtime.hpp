// corio/runtime.hpp: the worker threads that run coroutines and their I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string_view>
#include <system_error>

#include "corio/detail/detached.hpp"
#include "corio/dump.hpp"
#include "corio/join_handle.hpp"
#include "corio/metrics.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace corio {

/// The OS mechanism that completes a runtime's operations.
enum class backend_kind : std::uint8_t {
  automatic,  ///< CORIO_BACKEND if set, else io_uring where it works, else epoll; IOCP on Windows
  io_uring,
  epoll,
  iocp,
};

/// "auto", "uring", "epoll", "iocp".
std::string_view to_string(backend_kind k) noexcept;
/// The inverse of to_string; also accepts "io_uring". Bad names give
/// std::errc::invalid_argument.
result<backend_kind> parse_backend_kind(std::string_view name) noexcept;

struct runtime_options {
  /// Worker threads; 0 means one per core.
  unsigned threads = 0;
  /// Which backend to use; `automatic` probes (see docs/backends.md).
  backend_kind backend = backend_kind::automatic;
  /// Most threads of the blocking pool (spawn_blocking, net::resolve);
  /// 0 means 64. Threads start when jobs wait and none is idle.
  unsigned blocking_threads = 0;
  /// How long a blocking-pool thread waits for a job before it ends.
  std::chrono::milliseconds blocking_idle{10'000};
  /// How long shutdown (and the destructor) waits, after stopping the root
  /// token, for tasks that have not ended before giving up on them.
  std::chrono::milliseconds abandon_after = std::chrono::seconds(5);
  /// Stall detector: when nonzero, a monitor thread reports (through the
  /// log handler, corio/log.hpp) each time a worker has not returned to its
  /// loop for longer than this: a coroutine that blocks or computes too
  /// long. Once per stall, without stopping it. 0: no monitor thread.
  std::chrono::milliseconds stall_threshold{0};
  /// Lets runtime::dump() list every operation in flight, at the price of
  /// a lock and a table entry per operation started (off: dump() lists
  /// none, and starting an operation pays one predictable branch).
  bool track_operations = false;
};

/// What runtime::shutdown found: how the tasks running when it began ended.
struct shutdown_report {
  /// Ended on their own during the grace period.
  std::size_t finished = 0;
  /// Ended after the root token was stopped.
  std::size_t stopped = 0;
  /// Still running `abandon_after` later: never resumed again, their frames
  /// leaked rather than freed under an operation that may still name them.
  /// Their handles and block_on calls got errc::shut_down.
  std::size_t abandoned = 0;
};

namespace detail {
class runtime_impl;
}

/// A set of worker threads, each running coroutines and completing their
/// I/O. Embeddable: the application keeps its own threads and hands work to
/// the runtime with spawn (from any thread; a join_handle brings the result
/// back) or block_on. Every task so started belongs to the runtime's root
/// scope, which shutdown() joins. Destroying the runtime is shutdown() with
/// no grace period (see docs/embedding.md).
class runtime {
 public:
  /// Starts the workers. Fails (never throws, never exits) when no backend
  /// can be set up, or when the one asked for is unavailable.
  static result<runtime> create(runtime_options options = {});

  runtime(runtime&&) noexcept;
  runtime& operator=(runtime&&) noexcept;
  ~runtime();

  /// Runs `t` on a worker and blocks the calling thread until it ends;
  /// returns its value or rethrows its exception. Must not be called from a
  /// worker thread of this runtime (std::logic_error: it would deadlock).
  /// The task belongs to the root scope: to end when the runtime shuts down,
  /// it awaits its operations under `with_stop(op, rt.stop_token())`. If the
  /// runtime refused it (shutting down), stopped it before it started, or
  /// gave up on it, block_on throws std::system_error with
  /// errc::shut_down or std::errc::operation_canceled.
  template <class T>
  T block_on(task<T> t);

  /// Starts `t` on the next worker (round-robin) and returns at once, from
  /// any thread: a runtime worker or a plain thread. The task belongs to
  /// the root scope; the handle brings its result or exception back (see
  /// join_handle) and dropping it detaches. After shutdown has begun the
  /// task is refused: it never runs, and the handle holds errc::shut_down.
  template <class T>
  join_handle<T> spawn(task<T> t);

  /// As spawn(task), for `f(std::stop_token) -> task<T>`: `f` gets the
  /// task's own token (stopped by the handle's cancel() and by shutdown),
  /// and `f` itself (a lambda's captures) lives until the task has ended,
  /// so a capturing coroutine lambda is safe here.
  template <detail::token_task_factory F>
  join_handle<detail::factory_value_t<F>> spawn(F f);

  /// The root scope's token, stopped by shutdown() once the grace period
  /// is over. Tasks handed to block_on or spawn(task) watch it to end then.
  std::stop_token stop_token() const noexcept;

  /// Any thread but this runtime's workers (std::logic_error). Refuses new
  /// tasks (spawn's handles and block_on report errc::shut_down), lets the
  /// running ones go on for `grace`, stops the root token (every spawned
  /// task's token), waits up to runtime_options::abandon_after for them to
  /// end, gives up on what is left, and joins the workers. Every block_on
  /// in progress returns: its task's result if it ended, else an error.
  /// A later call (or the destructor) waits for the first and reports
  /// nothing.
  shutdown_report shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  /// The backend that this runtime's workers use.
  backend_kind backend() const noexcept;
  /// The number of worker threads.
  unsigned threads() const noexcept;
  /// Operations started and not yet completed, across all workers. Zero
  /// whenever everything a runtime started has been joined.
  std::int64_t operations_in_flight() const noexcept;
  /// Threads in the blocking pool now (for tests and metrics).
  unsigned blocking_threads() const noexcept;
  /// Any thread: every worker's counters (see corio/metrics.hpp), read
  /// without stopping or waiting for them.
  metrics_snapshot metrics() const;
  /// Any thread: the operations in flight (with track_operations), every
  /// task and where it waits (in CORIO_TASK_TRACKING builds), and each
  /// worker's state, read without stopping the workers.
  runtime_dump dump() const;

 private:
  explicit runtime(std::unique_ptr<detail::runtime_impl> impl) noexcept;
  // Links `st` into the root scope and queues `h` (worker 0, or the next
  // one round-robin); false when shutting down (nothing is queued).
  bool launch(detail::spawned_base& st, std::coroutine_handle<> h, bool on_first_worker);
  template <class T>
  void start(task<T> t, detail::spawned<T>* st, bool on_first_worker);
  void check_not_worker(const char* what) const;
  std::unique_ptr<detail::runtime_impl> impl_;
};

/// Lets the other coroutines of this worker run, and its I/O be polled,
/// before resuming on the same worker. Only on a runtime worker.
inline auto yield() noexcept {
  struct awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const noexcept { detail::schedule_yield(h); }
    void await_resume() const noexcept {}
  };
  return awaiter{};
}

template <class T>
void runtime::start(task<T> t, detail::spawned<T>* st, bool on_first_worker) {
  st->add_ref();  // the task's reference; released when it ends
  auto h = detail::run_spawned(std::move(t), st).handle;
  if (!launch(*st, h, on_first_worker)) {
    h.destroy();  // frees `t` here, unstarted
    st->finish(make_error_code(errc::shut_down));
    st->release();
  }
}

template <class T>
join_handle<T> runtime::spawn(task<T> t) {
  auto* st = new detail::spawned<T>();
  join_handle<T> handle(st);
  start(std::move(t), st, false);
  return handle;
}

template <detail::token_task_factory F>
join_handle<detail::factory_value_t<F>> runtime::spawn(F f) {
  using T = detail::factory_value_t<F>;
  auto* st = new detail::spawned<T>();
  join_handle<T> handle(st);
  start(detail::call_with_token<F, T>(std::move(f), st->token()), st, false);
  return handle;
}

template <class T>
T runtime::block_on(task<T> t) {
  check_not_worker("runtime::block_on");
  auto* st = new detail::spawned<T>();
  join_handle<T> handle(st);
  start(std::move(t), st, true);
  st->wait();
  auto r = handle.take();
  if (!r) throw std::system_error(r.error(), "corio: runtime::block_on");
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

}  // namespace corio
