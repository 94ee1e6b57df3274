// corio/runtime.hpp: the worker threads that run coroutines and their I/O.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "corio/detail/detached.hpp"
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
};

namespace detail {
class runtime_impl;
}

/// A set of worker threads, each running coroutines and completing their
/// I/O. Embeddable: the application keeps its own main thread and hands
/// work to the runtime with block_on. Destroying the runtime stops and joins
/// the workers.
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
  template <class T>
  T block_on(task<T> t);

  /// The backend that this runtime's workers use.
  backend_kind backend() const noexcept;
  /// The number of worker threads.
  unsigned threads() const noexcept;
  /// Operations started and not yet completed, across all workers. Zero
  /// whenever everything a runtime started has been joined.
  std::int64_t operations_in_flight() const noexcept;
  /// Threads in the blocking pool now (for tests and metrics).
  unsigned blocking_threads() const noexcept;

 private:
  explicit runtime(std::unique_ptr<detail::runtime_impl> impl) noexcept;
  void post(std::coroutine_handle<> h);
  void check_not_worker() const;
  std::unique_ptr<detail::runtime_impl> impl_;
};

/// Lets the other coroutines of this worker run, and its I/O be polled,
/// before resuming on the same worker. Only on a runtime worker.
inline auto yield() noexcept {
  struct awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const noexcept { detail::schedule_local(h); }
    void await_resume() const noexcept {}
  };
  return awaiter{};
}

namespace detail {

// Where block_on's driver leaves the outcome for the blocked thread.
template <class T>
struct block_on_state {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  std::optional<T> value;
};
template <>
struct block_on_state<void> {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
};

template <class T>
detached block_on_driver(task<T> t, block_on_state<T>& st) {
  std::exception_ptr error;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
    } else {
      st.value.emplace(co_await std::move(t));
    }
  } catch (...) {
    error = std::current_exception();
  }
  // Notify under the lock: the waiter cannot destroy `st` until we release it.
  std::lock_guard lock(st.mu);
  st.error = error;
  st.done = true;
  st.cv.notify_one();
}

}  // namespace detail

template <class T>
T runtime::block_on(task<T> t) {
  check_not_worker();
  detail::block_on_state<T> st;
  post(detail::block_on_driver(std::move(t), st).handle);
  std::unique_lock lock(st.mu);
  st.cv.wait(lock, [&] { return st.done; });
  if (st.error) std::rethrow_exception(st.error);
  if constexpr (!std::is_void_v<T>) return std::move(*st.value);
}

}  // namespace corio
