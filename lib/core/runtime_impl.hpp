// lib/core/runtime_impl.hpp: what a runtime owns.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "core/blocking_pool.hpp"
#include "core/op_tracker.hpp"
#include "core/stall_monitor.hpp"
#include "core/spawn_root.hpp"
#include "core/worker.hpp"
#include "corio/runtime.hpp"

namespace corio::detail {

class runtime_impl {
 public:
  // Starts one worker per backend; fails if any cannot attach its thread.
  static result<std::unique_ptr<runtime_impl>> start(backend_kind kind, backend_set backends,
                                                     const runtime_options& options = {});
  // shutdown(0) unless it ran already.
  ~runtime_impl();

  // The root scope: the tasks of spawn and block_on (see runtime::shutdown).
  spawn_root& root() noexcept { return root_; }
  // Joins the root scope (runtime::shutdown), then stops and joins the workers.
  shutdown_report shutdown(std::chrono::milliseconds grace);

  // The next worker in round-robin order (for spawn).
  worker& next_worker() noexcept {
    auto i = next_.fetch_add(1, std::memory_order_relaxed);
    return *workers_[i % workers_.size()];
  }
  worker& at(unsigned i) noexcept { return *workers_[i]; }
  unsigned size() const noexcept { return static_cast<unsigned>(workers_.size()); }
  backend_kind kind() const noexcept { return kind_; }
  std::int64_t in_flight() const noexcept;
  // spawn_blocking's threads.
  blocking_pool& blocking() noexcept { return blocking_; }
  bool owns_current_thread() const noexcept;
  // The operations in flight, when the runtime tracks them.
  op_tracker* tracker() noexcept { return tracker_.get(); }

 private:
  runtime_impl(backend_kind kind, const runtime_options& options) noexcept
      : kind_(kind),
        abandon_after_(options.abandon_after),
        tracker_(options.track_operations ? std::make_unique<op_tracker>() : nullptr),
        stall_threshold_(options.stall_threshold),
        blocking_(options.blocking_threads, options.blocking_idle) {}
  void stop_and_join() noexcept;

  backend_kind kind_;
  std::chrono::milliseconds abandon_after_;
  spawn_root root_;
  // Before the workers, which keep a pointer to it.
  std::unique_ptr<op_tracker> tracker_;
  std::chrono::milliseconds stall_threshold_;
  std::vector<std::unique_ptr<worker>> workers_;
  // Watches the workers (runtime_options::stall_threshold); stopped before
  // they are.
  std::unique_ptr<stall_monitor> monitor_;
  std::atomic<unsigned> next_{0};
  // Shut down before the workers stop (see stop_and_join); its jobs' awaiters
  // resume through the workers' backends, so it goes before them too.
  blocking_pool blocking_;
};

// Picks the backend for `options` (CORIO_BACKEND, probing, fallback) and
// makes one per worker. Reports a fallback once through the log handler (corio/log.hpp).
result<backend_set> choose_backends(const runtime_options& options, unsigned threads,
                                    backend_kind& chosen);

}  // namespace corio::detail
