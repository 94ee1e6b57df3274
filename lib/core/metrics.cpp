// lib/core/metrics.cpp: runtime::metrics() and runtime::dump(), read from
// the workers' counters and tables without stopping them, and their text
// forms (Prometheus exposition, the operator's dump).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>

#include "core/runtime_impl.hpp"
#include "core/task_registry.hpp"
#include "corio/dump.hpp"
#include "corio/metrics.hpp"
#include "corio/runtime.hpp"
#include "sys/thread_clock.hpp"

namespace corio {

namespace {

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// worker_counts' members, each with its Prometheus name (null: not
// exported), type and help: read, summed and printed from here alone.
struct count_field {
  std::uint64_t worker_counts::*member;
  const char* metric;
  const char* type;
  const char* help;
};
constexpr count_field count_fields[] = {
    {&worker_counts::inline_completions, "inline_completions_total", "counter",
     "Operations that finished at once, without waiting."},
    {&worker_counts::completions, "completions_total", "counter",
     "Operations completed through the worker's loop."},
    {&worker_counts::kernel_entries, "kernel_entries_total", "counter",
     "Calls into the kernel to submit or wait for I/O."},
    {&worker_counts::empty_polls, "empty_polls_total", "counter",
     "Polls that found nothing to complete or resume."},
    {&worker_counts::posts_received, "posts_received_total", "counter",
     "Coroutines resumed here that another thread handed over."},
    {&worker_counts::bytes_read, "read_bytes_total", "counter", "Bytes received by completed reads."},
    {&worker_counts::bytes_written, "written_bytes_total", "counter",
     "Bytes sent by completed writes."},
    {&worker_counts::turns, "loop_turns_total", "counter", "Turns of the worker's loop."},
    {&worker_counts::wakeups, nullptr, nullptr, nullptr},  // the stall detector's; not exported
    {&worker_counts::ready_queue, "ready_queue", "gauge",
     "Coroutines ready to run at the start of the last turn."},
};
// A member added to worker_counts without a row here fails to compile.
static_assert(sizeof(worker_counts) == std::size(count_fields) * sizeof(std::uint64_t));

worker_metrics read_worker(const detail::worker& w, std::int64_t now) {
  using detail::read_counter;
  const detail::worker_counters& c = const_cast<detail::worker&>(w).io().counts;
  worker_metrics m;
  m.worker = w.index();
  for (const count_field& f : count_fields) m.*f.member = read_counter(c.*f.member);
  m.waiting = read_counter(c.waiting) != 0;
  for (std::size_t k = 0; k < operation_kind_count; ++k) {
    // Completed read first: a completion between the two reads then shows
    // as still in flight, never as a negative count on uring and epoll.
    const auto done = read_counter(c.completed[k]);
    m.started[k] = read_counter(c.started[k]);
    m.in_flight[k] = static_cast<std::int64_t>(m.started[k] - done);
    m.submissions += m.started[k];
  }
  // Busy: the thread's CPU time; waiting: the rest of its life so far.
  m.busy_time = detail::sys::thread_cpu_time(static_cast<std::uintptr_t>(read_counter(c.cpu_clock)));
  const auto start = static_cast<std::int64_t>(read_counter(c.start_ns));
  const auto alive = start ? std::chrono::nanoseconds(now - start) : std::chrono::nanoseconds(0);
  m.waiting_time = std::max(alive - m.busy_time, std::chrono::nanoseconds(0));
  return m;
}

void add(worker_metrics& t, const worker_metrics& m) {
  for (const count_field& f : count_fields) t.*f.member += m.*f.member;
  t.submissions += m.submissions;
  for (std::size_t k = 0; k < operation_kind_count; ++k) {
    t.started[k] += m.started[k];
    t.in_flight[k] += m.in_flight[k];
  }
  t.waiting_time += m.waiting_time;
  t.busy_time += m.busy_time;
  t.waiting = t.waiting && m.waiting;
}

std::string location_text(const std::source_location& where) {
  if (where.line() == 0) return {};
  return std::string(where.file_name()) + ':' + std::to_string(where.line()) + " in " +
         where.function_name();
}

std::string ms_text(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1e6);
  return buf;
}

}  // namespace

std::string_view operation_kind_name(std::size_t k) noexcept {
  if (k >= operation_kind_count) return "unknown";
  switch (static_cast<detail::op_code>(k)) {
    case detail::op_code::recv: return "recv";
    case detail::op_code::send: return "send";
    case detail::op_code::send_vectored: return "send_vectored";
    case detail::op_code::wait_readable: return "wait_readable";
    case detail::op_code::accept: return "accept";
    case detail::op_code::connect: return "connect";
    case detail::op_code::timer: return "timer";
    case detail::op_code::recv_from: return "recv_from";
    case detail::op_code::send_to: return "send_to";
    case detail::op_code::file_open: return "file_open";
    case detail::op_code::file_read: return "file_read";
    case detail::op_code::file_write: return "file_write";
    case detail::op_code::file_sync: return "file_sync";
    case detail::op_code::send_file: return "send_file";
    case detail::op_code::recv_pooled: return "recv_pooled";
  }
  return "unknown";
}

metrics_snapshot runtime::metrics() const {
  metrics_snapshot s;
  if (!impl_) return s;
  s.backend = to_string(impl_->kind());
  const std::int64_t now = steady_ns();
  s.total.worker = impl_->size();
  s.total.waiting = true;
  for (unsigned i = 0; i < impl_->size(); ++i) {
    s.workers.push_back(read_worker(impl_->at(i), now));
    add(s.total, s.workers.back());
  }
  s.sockets_open = detail::sockets_open.load(std::memory_order_relaxed);
  s.blocking_threads = impl_->blocking().threads();
  return s;
}

runtime_dump runtime::dump() const {
  runtime_dump d;
  d.tasks_tracked = CORIO_TASK_TRACKING != 0;
  if (!impl_) return d;
  for (unsigned i = 0; i < impl_->size(); ++i) {
    auto& w = impl_->at(i);
    const auto& c = w.io().counts;
    d.workers.push_back({i, detail::read_counter(c.waiting) != 0,
                         detail::read_counter(c.ready_queue), location_text(w.location())});
  }
  if (auto* t = impl_->tracker()) {
    d.operations_tracked = true;
    t->collect(d.operations);
    std::ranges::sort(d.operations, std::ranges::greater{}, &operation_info::waiting);
  }
  if (d.tasks_tracked) {
    detail::collect_tasks(d.tasks);
    std::ranges::sort(d.tasks, [](const task_info& a, const task_info& b) {
      return a.suspended != b.suspended ? a.suspended : a.since > b.since;
    });
  }
  return d;
}

std::string format_prometheus(const metrics_snapshot& m, std::string_view prefix_view) {
  const std::string prefix(prefix_view);
  std::string out;
  auto head = [&](const char* name, const char* type, const char* help) {
    out += "# HELP " + prefix + name + ' ' + help + '\n';
    out += "# TYPE " + prefix + name + ' ' + type + '\n';
  };
  auto per_worker = [&](const char* name, const char* type, const char* help, auto value) {
    head(name, type, help);
    for (const worker_metrics& w : m.workers) {
      out += prefix + name + "{worker=\"" + std::to_string(w.worker) + "\"} " + value(w) + '\n';
    }
  };
  auto num = [](auto v) { return std::to_string(v); };
  auto seconds = [](std::chrono::nanoseconds d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(d.count()) / 1e9);
    return std::string(buf);
  };
  head("info", "gauge", "The runtime's backend (always 1).");
  out += prefix + "info{backend=\"" + std::string(m.backend) + "\",workers=\"" +
         std::to_string(m.workers.size()) + "\"} 1\n";
  per_worker("submissions_total", "counter", "Operations started.",
             [&](auto& w) { return num(w.submissions); });
  for (const count_field& f : count_fields) {
    if (!f.metric) continue;
    per_worker(f.metric, f.type, f.help, [&](auto& w) { return num(w.*f.member); });
  }
  per_worker("busy_seconds_total", "counter",
             "CPU time of the worker's thread: running coroutines, completions and syscalls.",
             [&](auto& w) { return seconds(w.busy_time); });
  per_worker("waiting_seconds_total", "counter",
             "The rest of the worker's life: waiting for work (or for a CPU).",
             [&](auto& w) { return seconds(w.waiting_time); });
  head("operations_total", "counter", "Operations started, by kind.");
  for (const worker_metrics& w : m.workers) {
    for (std::size_t k = 0; k < operation_kind_count; ++k) {
      out += prefix + "operations_total{worker=\"" + std::to_string(w.worker) + "\",kind=\"" +
             std::string(operation_kind_name(k)) + "\"} " + std::to_string(w.started[k]) + '\n';
    }
  }
  head("operations_in_flight", "gauge", "Operations in flight, by kind (timers: timers pending).");
  for (const worker_metrics& w : m.workers) {
    for (std::size_t k = 0; k < operation_kind_count; ++k) {
      out += prefix + "operations_in_flight{worker=\"" + std::to_string(w.worker) + "\",kind=\"" +
             std::string(operation_kind_name(k)) + "\"} " + std::to_string(w.in_flight[k]) + '\n';
    }
  }
  head("sockets_open", "gauge", "Sockets open in the process.");
  out += prefix + "sockets_open " + std::to_string(m.sockets_open) + '\n';
  head("blocking_threads", "gauge", "Threads in the blocking pool.");
  out += prefix + "blocking_threads " + std::to_string(m.blocking_threads) + '\n';
  return out;
}

std::string format_dump(const runtime_dump& d) {
  std::string out;
  for (const worker_state& w : d.workers) {
    out += "worker " + std::to_string(w.worker) + ": " +
           (w.waiting ? "waiting for work" : "running") + ", " + std::to_string(w.ready_queue) +
           " ready";
    if (!w.location.empty()) out += "; last co_await passed: " + w.location;
    out += '\n';
  }
  if (!d.operations_tracked) {
    out += "operations: not tracked (runtime_options::track_operations)\n";
  } else {
    out += "operations in flight: " + std::to_string(d.operations.size()) + '\n';
    for (const operation_info& op : d.operations) {
      out += "  worker " + std::to_string(op.worker) + "  " + std::string(op.kind);
      if (op.socket >= 0) out += "  socket " + std::to_string(op.socket);
      if (!op.address.empty()) out += "  " + op.address;
      out += "  waiting " + ms_text(op.waiting) + '\n';
    }
  }
  if (!d.tasks_tracked) {
    out += "tasks: not tracked (build with CORIO_TASK_TRACKING=ON)\n";
  } else {
    out += "tasks: " + std::to_string(d.tasks.size()) + '\n';
    for (const task_info& t : d.tasks) {
      out += t.suspended ? "  suspended " : t.line ? "  running   " : "  not started ";
      out += ms_text(t.since);
      if (t.line) out += " at " + t.file + ':' + std::to_string(t.line) + " in " + t.function;
      out += '\n';
    }
  }
  return out;
}

}  // namespace corio
