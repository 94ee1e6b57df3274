// tests/support/workers.hpp: moving a test coroutine between the runtime's
// workers (what channels and events do to wake a waiter on another worker).
#pragma once

#include "corio/corio.hpp"

namespace corio::test {

/// Resumes the awaiting coroutine on the worker whose backend is `to`.
struct hop {
  void* to;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const noexcept { detail::resume_on(to, h); }
  void await_resume() const noexcept {}
};

/// The backend of a worker other than the calling one (spawn goes
/// round-robin over the workers), or the caller's after eight tries.
inline task<void*> other_worker() {
  void* here = detail::current_backend();
  void* there = here;
  scope s;
  for (int i = 0; i < 8 && there == here; ++i) {
    s.spawn([](void*& out) -> task<void> {
      out = detail::current_backend();
      co_return;
    }(there));
    co_await s.join();
  }
  co_return there;
}

}  // namespace corio::test
