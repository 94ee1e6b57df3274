// corio/time.hpp: waiting for a moment on the steady clock.
#pragma once

#include <chrono>

#include "corio/detail/io.hpp"
#include "corio/result.hpp"

namespace corio {

using clock = std::chrono::steady_clock;

namespace detail {
class [[nodiscard]] sleep_awaiter : public op_awaiter_base<sleep_awaiter> {
 public:
  explicit sleep_awaiter(clock::time_point deadline) noexcept {
    st_.deadline_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  }
  operation& op() noexcept { return op_; }
  bool start() noexcept { return start_timer(op_, st_); }
  result<void> await_resume() const noexcept {
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return {};
  }

 private:
  operation op_;
  timer_state st_;
};
}  // namespace detail

/// Resumes on a worker once the steady clock reaches `deadline` (at once if
/// it already has, after a turn through the backend). Uses the backend's own
/// timer; allocates nothing.
inline detail::sleep_awaiter sleep_until(clock::time_point deadline) noexcept {
  return detail::sleep_awaiter(deadline);
}

/// Resumes on a worker after `d` has passed on the steady clock.
template <class Rep, class Period>
detail::sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  return detail::sleep_awaiter(clock::now() + std::chrono::duration_cast<clock::duration>(d));
}

}  // namespace corio
