// lib/core/stall_monitor.cpp: the stall detector's thread (see the header).
#include "core/stall_monitor.hpp"

#include <algorithm>
#include <string>

#include "core/log.hpp"
#include "core/worker.hpp"
#include "corio/detail/task_tracking.hpp"

namespace corio::detail {

namespace {

using clock = std::chrono::steady_clock;

std::int64_t ms_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace

stall_monitor::stall_monitor(std::vector<worker*> workers, std::chrono::milliseconds threshold)
    : workers_(std::move(workers)), threshold_(threshold), thread_([this] { run(); }) {}

stall_monitor::~stall_monitor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void stall_monitor::run() {
  struct seen {
    std::uint64_t progress = 0;
    clock::time_point since;  // the last look that saw it move (or wait)
    bool stalled = false;
  };
  std::vector<seen> last(workers_.size(), seen{0, clock::now(), false});
  // Four looks per threshold: a stall is reported between 1 and 1.25
  // thresholds after it began, and a stall is never overstated (a worker
  // is taken as moving from the look that saw it move).
  const auto period = std::max<clock::duration>(threshold_ / 4, std::chrono::milliseconds(1));
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
    const auto now = clock::now();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      const worker_counters& c = workers_[i]->io().counts;
      const std::uint64_t progress = read_counter(c.turns) + read_counter(c.wakeups);
      seen& s = last[i];
      if (progress != s.progress || read_counter(c.waiting) != 0) {
        if (s.stalled) {
          log(log_level::info, "stall: worker " + std::to_string(i) +
                                   " is back in its loop after " +
                                   std::to_string(ms_between(s.since, now)) + " ms");
        }
        s = seen{progress, now, false};
        continue;
      }
      if (s.stalled || now - s.since <= threshold_) continue;
      s.stalled = true;
      const std::source_location where = workers_[i]->location();
      std::string line = "stall: worker " + std::to_string(i) +
                         " has not returned to its loop for " +
                         std::to_string(ms_between(s.since, now)) + " ms (threshold " +
                         std::to_string(threshold_.count()) + " ms)";
      if (where.line() != 0) {
        line += "; the coroutine it runs last passed the co_await at ";
        line += where.file_name();
        line += ':' + std::to_string(where.line()) + " in " + where.function_name();
      } else {
#if CORIO_TASK_TRACKING
        line += "; location unknown (its coroutine has passed no co_await yet)";
#else
        line += "; location unknown (build with CORIO_TASK_TRACKING=ON to see the co_await)";
#endif
      }
      log(log_level::warning, line);
    }
  }
}

}  // namespace corio::detail
