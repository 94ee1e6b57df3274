// lib/core/stall_monitor.hpp: the stall detector (runtime_options::
// stall_threshold). A thread of its own looks at each worker a few times
// per threshold: a worker that is not blocked waiting for work and whose
// loop has not turned since the last look for longer than the threshold is
// stuck in one coroutine (a blocking call, a long computation). It is
// reported once through the log handler, and its return once more; the
// worker itself is never stopped or slowed (the monitor only reads its
// counters).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace corio::detail {

class worker;

class stall_monitor {
 public:
  // Starts watching `workers`, which must outlive the monitor.
  stall_monitor(std::vector<worker*> workers, std::chrono::milliseconds threshold);
  // Stops and joins the thread.
  ~stall_monitor();
  stall_monitor(const stall_monitor&) = delete;
  stall_monitor& operator=(const stall_monitor&) = delete;

 private:
  void run();

  std::vector<worker*> workers_;
  std::chrono::milliseconds threshold_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace corio::detail
