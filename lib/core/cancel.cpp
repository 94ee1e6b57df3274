// lib/core/cancel.cpp: delivering a cancel request to the backend that owns
// the operation.
#include "corio/detail/cancel.hpp"

#include "core/stop_registry.hpp"
#include "core/worker.hpp"
#include "corio/detail/detached.hpp"

namespace corio::detail {

namespace {

// Runs on the owning worker. TRICKY: between the remote stop callback and
// this coroutine, the operation may complete on the owner. The callback
// added a reference, so that completion did not resume the awaiter (and
// free this request's target); whoever drops the last reference resumes.
detached cancel_on_owner(backend& owner, operation& op, std::atomic<int>& refs,
                         void (*finish)(operation*) noexcept) {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    finish(&op);  // completed meanwhile: nothing left to cancel
  } else {
    owner.cancel(op);  // still in flight; its completion resumes the awaiter
  }
  co_return;
}

}  // namespace

namespace {
// Sequentially consistent: on IOCP the flag is set before CancelIoEx looks
// for the operation, and a step's starter reads it after its call went in
// (step_start_guard): one of the two sees the other.
void mark(operation& op) noexcept {
  std::atomic_ref<std::uint8_t>(op.cancel_requested).store(1, std::memory_order_seq_cst);
}
}  // namespace

void cancel_owned(void* owner, operation& op) noexcept {
  mark(op);
  if (owner) static_cast<backend*>(owner)->cancel(op);
}

void request_cancel(void* owner, operation& op, std::atomic<int>& refs,
                    void (*finish)(operation*) noexcept) noexcept {
  auto* b = static_cast<backend*>(owner);
  if (!b) return;
  mark(op);
  auto* w = worker::current();
  if (b->cancel_from_any_thread() || (w && &w->io() == b)) {
    // On the owner, an operation whose awaiter has not resumed is still in
    // flight: its completion would have resumed it on this same thread.
    b->cancel(op);
    return;
  }
  if (refs.fetch_add(1, std::memory_order_acq_rel) == 0) return;  // already resuming
  b->post(cancel_on_owner(*b, op, refs, finish).handle);
}

bool watch_stop(const std::stop_token& token, operation& op, stop_link& link) noexcept {
  auto* w = worker::current();
  return w && w->stops().add(token, op, link);
}

void unwatch_stop(stop_link& link) noexcept { stop_registry::remove(link); }

}  // namespace corio::detail
