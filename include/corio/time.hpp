// corio/time.hpp: waiting for a moment on the steady clock.
#pragma once

#include <chrono>
#include <type_traits>

#include "corio/detail/io.hpp"
#include "corio/result.hpp"

namespace corio {

using clock = std::chrono::steady_clock;

namespace detail {

// A timer operation's deadline_ns is the time point's count as it is: no
// conversion that could overflow.
static_assert(std::is_same_v<clock::duration, std::chrono::nanoseconds>,
              "corio's timers count the steady clock in nanoseconds");

/// Makes `op` a timer due at `deadline`.
inline void prepare_timer(operation& op, clock::time_point deadline) noexcept {
  op.code = op_code::timer;
  op.args.deadline_ns = deadline.time_since_epoch().count();
}

/// now + d, saturating: at time_point::max() for a duration too long for the
/// clock (duration::max(): never), at time_point::min() for one too far in
/// the past (due at once). No signed overflow, whatever `d` is.
template <class Rep, class Period>
clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  const clock::time_point now = clock::now();
  // long double holds every count of every duration type, and the steady
  // clock's 64-bit range exactly (64-bit mantissa on x86).
  const long double want = std::chrono::duration<long double, std::nano>(d).count();
  const long double at = static_cast<long double>(now.time_since_epoch().count());
  const long double up = static_cast<long double>(clock::duration::max().count()) - at;
  const long double down = static_cast<long double>(clock::duration::min().count()) - at;
  if (!(want < up)) return clock::time_point::max();  // also a NaN duration
  if (want <= down) return clock::time_point::min();
  return now + clock::duration(static_cast<clock::duration::rep>(want));
}

class [[nodiscard("a sleep does nothing until it is co_awaited")]] sleep_awaiter
    : public op_awaiter_base<sleep_awaiter> {
 public:
  explicit sleep_awaiter(clock::time_point deadline) noexcept { prepare_timer(op_, deadline); }
  operation& op() noexcept { return op_; }
  bool start() noexcept { return detail::start(op_); }
  result<void> await_resume() const noexcept {
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return {};
  }

 private:
  operation op_;
};
}  // namespace detail

/// Resumes on a worker once the steady clock reaches `deadline` (after a turn
/// through the backend if it already has, even for time_point::min()). Uses
/// the backend's own timer; allocates nothing. Timers due at the same moment
/// fire in the order they were started.
inline detail::sleep_awaiter sleep_until(clock::time_point deadline) noexcept {
  return detail::sleep_awaiter(deadline);
}

/// Resumes on a worker after `d` has passed on the steady clock. A duration
/// past the clock's range (duration::max()) never fires; a negative one is
/// due at once.
template <class Rep, class Period>
detail::sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  return detail::sleep_awaiter(detail::deadline_after(d));
}

}  // namespace corio
