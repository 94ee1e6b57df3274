// lib/core/io.cpp: the one entry point of every operation, dispatched to the
// calling worker's backend.
#include "backend/backend.hpp"
#include "core/fault.hpp"
#include "core/op_tracker.hpp"
#include "core/worker.hpp"
#include "corio/detail/io.hpp"

namespace corio::detail {

bool start(operation& op) noexcept {
  auto* w = worker::current();
  // An operation started off a runtime worker has no backend to run it.
  if (!w) {
    op.res = result_from(std::errc::operation_not_supported);
    return false;
  }
  // Lesson 2, as a test sees it: a submission refused before the kernel
  // took it finishes at once with the error.
  if (fault_hit(fault_site::op_start)) {
    op.res = result_from(std::errc::resource_unavailable_try_again);
    return false;
  }
  worker_counters& c = w->io().counts;
  // Read before start: once in flight, op may already be another thread's.
  const op_code code = op.code;
  bump(c.started[static_cast<std::size_t>(code)]);
  const bool in_flight = w->tracker() ? w->tracker()->start(*w, op) : w->io().start(op);
  if (in_flight) return true;
  bump(c.inline_completions);
  bump(c.completed[static_cast<std::size_t>(code)]);
  count_bytes(c, code, op.res);
  return false;
}

}  // namespace corio::detail
