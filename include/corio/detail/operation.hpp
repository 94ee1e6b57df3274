// corio/detail/operation.hpp: the header that every overlapped operation
// starts with, shared by all backends.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstdint>

namespace corio::detail {

#ifdef _WIN32
// Same layout as the Win32 OVERLAPPED (checked by static_assert in the IOCP
// backend), so public headers need not include <windows.h>.
struct overlapped_storage {
  std::uintptr_t internal = 0;
  std::uintptr_t internal_high = 0;
  void* offset_or_pointer = nullptr;
  void* event = nullptr;
};
#endif

struct operation;

/// The completion that every plain operation uses: resume the waiter.
inline void resume_waiter(operation* op) noexcept;

/// One in-flight operation. It lives inside the awaiter, so inside the
/// awaiting coroutine's frame: starting an operation allocates nothing, and
/// the kernel's completion (io_uring user_data, IOCP lpOverlapped) points
/// straight back to it.
struct operation {
#ifdef _WIN32
  // First member: the completion packet's lpOverlapped is this address.
  overlapped_storage overlapped;
#endif
  // Called on a worker once the backend has set `res`. Chosen by the
  // awaiter, never by the backend: plain operations resume the waiter,
  // cancellable ones first settle the race with a cancel request.
  void (*complete)(operation*) noexcept = resume_waiter;
  // The coroutine to resume, exactly once.
  std::coroutine_handle<> waiter;
  // >= 0: bytes transferred (or the accepted descriptor); < 0: a negated
  // error value as the backend defines it (see error_from_result).
  std::int64_t res = 0;
  // What `complete` needs besides the operation (a combinator's state, such
  // as with_timeout's); unused by plain operations.
  void* context = nullptr;
  // Set (through std::atomic_ref) when a cancel was requested: a transfer of
  // several steps (write_all) checks it before each new step, so a cancel
  // that lands between two steps is not lost.
  std::uint8_t cancel_requested = 0;
  // Backend-private word (io_uring: which result fix-up applies; epoll:
  // the readiness direction; IOCP: flags).
  std::uint32_t aux = 0;
};

inline void resume_waiter(operation* op) noexcept { op->waiter.resume(); }

/// What every corio operation awaiter provides, so that with_stop and
/// with_timeout can drive any of them:
///   operation& op() noexcept;  the operation it starts
///   bool start() noexcept;     starts it with op().waiter/complete/context as
///                              preset; returns like the backend's start_*
///   R await_resume();          the result (a corio::result<...>)
/// Its await_suspend is `op().waiter = h; return start();`.
template <class A>
concept op_awaiter = requires(A& a) {
  { a.op() } noexcept -> std::same_as<operation&>;
  { a.start() } noexcept -> std::same_as<bool>;
  a.await_resume();
};

template <class Derived>
struct op_awaiter_base {
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    auto& self = static_cast<Derived&>(*this);
    self.op().waiter = h;
    return self.start();
  }
};

}  // namespace corio::detail
