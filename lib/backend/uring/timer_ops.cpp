// lib/backend/uring/timer_ops.cpp: timers as io_uring timeout operations.
#include <cerrno>
#include <cstring>

#include "backend/uring/uring_backend.hpp"

namespace corio::detail {

bool uring_backend::start_timer(operation& op, timer_state& st) noexcept {
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  static_assert(sizeof(st.scratch) >= sizeof(__kernel_timespec));
  __kernel_timespec ts{};
  ts.tv_sec = st.deadline_ns / 1'000'000'000;
  ts.tv_nsec = st.deadline_ns % 1'000'000'000;
  std::memcpy(st.scratch, &ts, sizeof ts);
  // Absolute on CLOCK_MONOTONIC, which is std::chrono::steady_clock here.
  io_uring_prep_timeout(sqe, reinterpret_cast<__kernel_timespec*>(st.scratch), 0,
                        IORING_TIMEOUT_ABS);
  op.aux = aux_timer;
  return started();
}

}  // namespace corio::detail
