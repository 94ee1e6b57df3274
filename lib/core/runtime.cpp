// lib/core/runtime.cpp: starting, running and stopping a runtime.
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/fault.hpp"
#include "core/shuffle.hpp"
#include "core/runtime_impl.hpp"
#include "sys/signal.hpp"
#include "corio/runtime.hpp"

namespace corio {
namespace detail {

result<std::unique_ptr<runtime_impl>> runtime_impl::start(backend_kind kind,
                                                          backend_set backends,
                                                          const runtime_options& options) {
  std::unique_ptr<runtime_impl> rt(new runtime_impl(kind, options));
  std::vector<std::future<result<void>>> attached;
  for (unsigned i = 0; i < backends.size(); ++i) {
    rt->workers_.push_back(
        std::make_unique<worker>(*rt, i, std::move(backends[i]), rt->tracker_.get()));
  }
  for (auto& w : rt->workers_) {
    auto promise = std::make_shared<std::promise<result<void>>>();
    attached.push_back(promise->get_future());
    w->thread() = std::thread([w = w.get(), promise] {
      sys::prepare_worker_thread();
      w->run([&](const result<void>& r) { promise->set_value(r); });
    });
  }
  result<void> failure;
  for (auto& f : attached) {
    auto r = f.get();
    if (!r && failure) failure = r;
  }
  if (!failure) return fail(failure.error());  // the destructor joins the others
  if (rt->stall_threshold_.count() > 0) {
    std::vector<worker*> watched;
    for (auto& w : rt->workers_) watched.push_back(w.get());
    rt->monitor_ = std::make_unique<stall_monitor>(std::move(watched), rt->stall_threshold_);
  }
  return rt;
}

runtime_impl::~runtime_impl() { shutdown(std::chrono::milliseconds(0)); }

shutdown_report runtime_impl::shutdown(std::chrono::milliseconds grace) {
  return root_.shutdown(grace, abandon_after_, [this] { stop_and_join(); });
}

void runtime_impl::stop_and_join() noexcept {
  monitor_.reset();  // joins its thread
  // First the blocking pool, while the workers still run: the awaiters of
  // the jobs it cancels (and of those still running, which it waits for)
  // resume on them with operation_canceled (or their value).
  blocking_.shutdown();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) {
    if (w->thread().joinable()) w->thread().join();
  }
}

std::int64_t runtime_impl::in_flight() const noexcept {
  std::int64_t n = 0;
  for (auto& w : workers_) n += w->io().in_flight();
  return n;
}

bool runtime_impl::owns_current_thread() const noexcept {
  auto* w = worker::current();
  return w && &w->rt() == this;
}

}  // namespace detail

std::string_view to_string(backend_kind k) noexcept {
  switch (k) {
    case backend_kind::automatic: return "auto";
    case backend_kind::io_uring: return "uring";
    case backend_kind::epoll: return "epoll";
    case backend_kind::iocp: return "iocp";
  }
  return "unknown";
}

result<backend_kind> parse_backend_kind(std::string_view name) noexcept {
  if (name == "auto") return backend_kind::automatic;
  if (name == "uring" || name == "io_uring") return backend_kind::io_uring;
  if (name == "epoll") return backend_kind::epoll;
  if (name == "iocp") return backend_kind::iocp;
  return fail(std::errc::invalid_argument);
}

result<runtime> runtime::create(runtime_options options) {
  // CORIO_FAULTS (docs/fault-injection.md), read once per process.
  if (auto faults = detail::load_faults_from_env(); !faults) return fail(faults.error());
  detail::load_shuffle_from_env();  // CORIO_SHUFFLE, CORIO_SHUFFLE_SEED
  unsigned threads = options.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  backend_kind kind = backend_kind::automatic;
  auto backends = detail::choose_backends(options, threads, kind);
  if (!backends) return fail(backends.error());
  auto impl = detail::runtime_impl::start(kind, std::move(*backends), options);
  if (!impl) return fail(impl.error());
  return runtime(std::move(*impl));
}

runtime::runtime(std::unique_ptr<detail::runtime_impl> impl) noexcept : impl_(std::move(impl)) {}
runtime::runtime(runtime&&) noexcept = default;
runtime& runtime::operator=(runtime&&) noexcept = default;
runtime::~runtime() = default;

backend_kind runtime::backend() const noexcept { return impl_->kind(); }
unsigned runtime::threads() const noexcept { return impl_->size(); }
std::int64_t runtime::operations_in_flight() const noexcept { return impl_->in_flight(); }
unsigned runtime::blocking_threads() const noexcept { return impl_->blocking().threads(); }

bool runtime::launch(detail::spawned_base& st, std::coroutine_handle<> h, bool on_first_worker) {
  if (!impl_) return false;  // moved from: refused like a shut-down runtime
  return impl_->root().admit(st, [&] {
    (on_first_worker ? impl_->at(0) : impl_->next_worker()).schedule(h);
  });
}

std::stop_token runtime::stop_token() const noexcept {
  return impl_ ? impl_->root().token() : std::stop_token{};
}

shutdown_report runtime::shutdown(std::chrono::milliseconds grace) {
  if (!impl_) return {};
  check_not_worker("runtime::shutdown");
  return impl_->shutdown(grace);
}

void runtime::check_not_worker(const char* what) const {
  if (impl_ && impl_->owns_current_thread())
    throw std::logic_error(std::string("corio: ") + what + " called on one of its own workers");
}

}  // namespace corio
