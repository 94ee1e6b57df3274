// lib/core/task_registry.cpp: the process-wide list of task frames
// (CORIO_TASK_TRACKING builds; see corio/detail/task_tracking.hpp). A lock
// per frame made and ended: the price of the tracking build, paid per task,
// never per operation.
#include "core/task_registry.hpp"

#include <chrono>
#include <mutex>

namespace corio::detail {

namespace {

struct registry {
  std::mutex mu;
  task_record* head = nullptr;  // guarded by mu
};

registry& tasks() {
  // Never destroyed: a frame may end after static destructors have run.
  static registry& r = *new registry;
  return r;
}

}  // namespace

std::int64_t tracking_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void register_task(task_record& t) noexcept {
  auto& r = tasks();
  std::lock_guard lock(r.mu);
  t.next = r.head;
  if (r.head) r.head->prev = &t;
  r.head = &t;
}

void unregister_task(task_record& t) noexcept {
  auto& r = tasks();
  std::lock_guard lock(r.mu);
  if (t.prev) t.prev->next = t.next; else r.head = t.next;
  if (t.next) t.next->prev = t.prev;
}

void collect_tasks(std::vector<task_info>& out) {
  const std::int64_t now = tracking_now_ns();
  auto& r = tasks();
  std::lock_guard lock(r.mu);
  for (task_record* t = r.head; t; t = t->next) {
    const std::source_location where = t->where.load(std::memory_order_relaxed);
    task_info info;
    if (where.line() != 0) {
      info.file = where.file_name();
      info.line = where.line();
      info.function = where.function_name();
    }
    info.suspended = t->suspended.load(std::memory_order_relaxed);
    info.since = std::chrono::nanoseconds(now - t->since_ns.load(std::memory_order_relaxed));
    out.push_back(std::move(info));
  }
}

}  // namespace corio::detail
