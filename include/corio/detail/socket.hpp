// corio/detail/socket.hpp: ownership of a socket_core, and the awaiter that
// every stream read and write uses.
#pragma once

#include <atomic>
#include <cerrno>
#include <memory>
#include <ranges>
#include <thread>
#include <type_traits>

#include "corio/detail/cancel.hpp"
#include "corio/detail/io.hpp"
#include "corio/result.hpp"

namespace corio::detail {

/// Closes the socket (telling the backend first) and frees its core.
struct socket_closer {
  void operator()(socket_core* s) const noexcept;
};
using socket_ptr = std::unique_ptr<socket_core, socket_closer>;

/// A contiguous range of single bytes: std::span<std::byte>, std::string,
/// std::array<char, N>, std::vector<unsigned char>, ...
template <class R>
concept byte_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                     sizeof(std::ranges::range_value_t<R>) == 1 &&
                     std::is_trivially_copyable_v<std::ranges::range_value_t<R>>;

/// A byte range that a write may take: any byte_range but a char array,
/// whose terminating NUL would go out with a string literal
/// (`write_all("hi\n")` sends 4 bytes); pass std::string_view instead.
template <class R>
concept writable_bytes =
    byte_range<R> &&
    !(std::is_array_v<std::remove_reference_t<R>> &&
      std::is_same_v<std::remove_cv_t<std::remove_extent_t<std::remove_reference_t<R>>>, char>);

/// Ends a use of `s` taken by socket_claim, and closes and frees the socket
/// if it is closing and this was the last use (see socket_closer). Returns
/// whether the socket was closing.
bool release_socket(socket_core& s, std::uint32_t use) noexcept;

/// What one operation holds of its socket while it is in flight: the read
/// or write direction (taking it refuses a second concurrent operation in
/// the same direction before it reaches the kernel: lesson 1), or one unit
/// of the count of other operations. The socket is not released (closed and
/// freed) while any use is held: closing a stream with operations in flight
/// cancels them, and each then completes with operation_canceled.
template <std::uint32_t Use>
class socket_claim {
 public:
  /// True when the operation on `s` may start; false when it is refused.
  bool take(socket_core* s) noexcept {
    if (!s) {
      state_ = state::not_open;
      return false;
    }
    std::uint32_t u = s->uses.load(std::memory_order_relaxed);
    for (;;) {
      if (u & socket_use::closing) {
        state_ = state::not_open;
        return false;
      }
      if (Use != socket_use::other && (u & Use)) {
        state_ = state::busy;
        return false;
      }
      if (s->uses.compare_exchange_weak(u, u + Use, std::memory_order_acquire,
                                        std::memory_order_relaxed))
        break;
    }
    state_ = state::held;
    return true;
  }
  /// After the operation: releases the use of `s` (which may close it), or
  /// says why the operation never started or why it was cut short.
  std::error_code finish(socket_core* s) noexcept {
    switch (state_) {
      case state::held:
        if (release_socket(*s, Use)) return std::make_error_code(std::errc::operation_canceled);
        return {};
      case state::not_open: return make_error_code(errc::not_open);
      case state::busy: return make_error_code(errc::concurrent_operation);
    }
    return {};
  }

 private:
  enum class state : std::uint8_t { held, not_open, busy };
  state state_ = state::held;
};

template <bool Write>
using half_claim = socket_claim<Write ? socket_use::writing : socket_use::reading>;

/// A read or a write on one stream half. The busy flag of that half is taken
/// before the operation starts and released after it completes, so a second
/// concurrent operation on the same half fails with
/// errc::concurrent_operation and never reaches the kernel (lesson 1).
/// A transfer of 0 bytes completes at once with 0 and reaches no kernel: on
/// a read, 0 means the end of the stream only when the buffer was not empty.
template <bool Write>
class [[nodiscard("a read or write does nothing until it is co_awaited")]] transfer_awaiter
    : public op_awaiter_base<transfer_awaiter<Write>> {
 public:
  using buffer_ptr = std::conditional_t<Write, const void*, void*>;
  transfer_awaiter(socket_core* s, buffer_ptr data, std::size_t size) noexcept {
    op_.code = Write ? op_code::send : op_code::recv;
    op_.sock = s;
    op_.args.buf = {const_cast<void*>(static_cast<const void*>(data)), size};
  }

  operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!claim_.take(op_.sock)) return false;
    if (op_.args.buf.size == 0) {
      op_.res = 0;
      return false;
    }
    return detail::start(op_);
  }
  result<std::size_t> await_resume() noexcept {
    if (auto refused = claim_.finish(op_.sock)) return fail(refused);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return static_cast<std::size_t>(op_.res);
  }

 private:
  operation op_;
  half_claim<Write> claim_;
};

/// wait_readable: holds the reading direction, like a read.
class [[nodiscard("a wait does nothing until it is co_awaited")]] readable_awaiter
    : public op_awaiter_base<readable_awaiter> {
 public:
  explicit readable_awaiter(socket_core* s) noexcept {
    op_.code = op_code::wait_readable;
    op_.sock = s;
  }
  operation& op() noexcept { return op_; }
  bool start() noexcept { return claim_.take(op_.sock) && detail::start(op_); }
  result<void> await_resume() noexcept {
    if (auto refused = claim_.finish(op_.sock)) return fail(refused);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return {};
  }

 private:
  operation op_;
  half_claim<false> claim_;
};

/// Closes the window between a step's check of cancel_requested and its
/// call into the kernel, on backends where a cancel comes from any thread
/// (IOCP): a cancel that lands there finds nothing in flight and would be
/// lost, and a step that never ends on its own (a write to a peer that
/// stopped reading) would hang. The starter looks at the flag again once
/// the call is made and cancels the step itself; until it is done, the
/// step's completion (on another worker) waits before touching the
/// awaiter. Elsewhere cancels run on the worker that issues the steps, so
/// there is no window and this is empty.
#ifdef _WIN32
class step_start_guard {
 public:
  step_start_guard() noexcept = default;
  // Awaiters move only before they start: a moved guard starts idle.
  step_start_guard(step_start_guard&&) noexcept {}
  step_start_guard& operator=(step_start_guard&&) = delete;

  void begin() noexcept { starting_.store(true, std::memory_order_seq_cst); }
  // After a step went in flight: cancels it if a cancel was requested
  // meanwhile, then lets its completion go on.
  void end_in_flight(operation& op) noexcept {
    if (std::atomic_ref<std::uint8_t>(op.cancel_requested).load(std::memory_order_seq_cst))
      cancel_owned(current_backend(), op);
    starting_.store(false, std::memory_order_release);
  }
  void end() noexcept { starting_.store(false, std::memory_order_release); }
  // In the step's completion: waits out a starter still in end_in_flight
  // (the few instructions after its call returned).
  void wait_started() const noexcept {
    while (starting_.load(std::memory_order_acquire)) std::this_thread::yield();
  }

 private:
  std::atomic<bool> starting_{false};
};
#else
struct step_start_guard {
  void begin() noexcept {}
  void end_in_flight(operation&) noexcept {}
  void end() noexcept {}
  void wait_started() const noexcept {}
};
#endif

/// The steps of write_all / read_exact / a gather write_all: repeats the
/// transfer until everything is done, without a coroutine frame per call
/// (so without an allocation). `Steps` sets up the next step in the
/// operation (`bool next(operation&)`: false when nothing is left) and takes
/// each finished step's count (`void advance(operation&, std::size_t)`). A combinator
/// wrapping it (with_stop, with_timeout) sets op().complete before start();
/// that callback runs once, when the whole transfer has ended.
template <bool Write, class Steps>
class [[nodiscard("a transfer does nothing until it is co_awaited")]] stepped_awaiter
    : public op_awaiter_base<stepped_awaiter<Write, Steps>> {
 public:
  /// `args` go to Steps::prepare, which sets up the operation.
  template <class... Args>
  stepped_awaiter(socket_core* s, Steps steps, Args... args) noexcept : steps_(steps) {
    op_.sock = s;
    steps_.prepare(op_, args...);
  }

  operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!claim_.take(op_.sock)) return false;
    final_ = op_.complete;
    final_context_ = op_.context;
    op_.complete = step_done;
    op_.context = this;
    return issue();
  }
  result<void> await_resume() noexcept {
    if (auto refused = claim_.finish(op_.sock)) return fail(refused);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    if (eof_) return fail(errc::unexpected_eof);
    return {};
  }
  /// Bytes transferred, including those of a transfer that then failed.
  std::size_t transferred() const noexcept { return done_; }

 private:
  // Starts steps until one is in flight (true) or the transfer is over
  // (false: complete, failed, or EOF).
  bool issue() noexcept {
    while (steps_.next(op_)) {
      // TRICKY: on IOCP a cancel may come from another thread just after a
      // step completed, find nothing in flight, and be lost; the flag it
      // leaves stops the next step from starting, and one that lands while
      // the step is being started is taken up by the guard.
      guard_.begin();
      if (std::atomic_ref<std::uint8_t>(op_.cancel_requested).load(std::memory_order_seq_cst)) {
        guard_.end();
        op_.res = result_from(std::errc::operation_canceled);
        return false;
      }
      if (detail::start(op_)) {
        guard_.end_in_flight(op_);
        return true;
      }
      guard_.end();
      if (!account()) return false;
    }
    op_.res = 0;
    return false;
  }
  // Adds a finished step; false when it ended the transfer (error or EOF).
  bool account() noexcept {
    if (op_.res < 0) return false;
    if (op_.res == 0) {
      eof_ = true;  // a step of at least one byte moved none: the stream ended
      return false;
    }
    done_ += static_cast<std::size_t>(op_.res);
    steps_.advance(op_, static_cast<std::size_t>(op_.res));
    return true;
  }
  static void step_done(operation* o) noexcept {
    auto* self = static_cast<stepped_awaiter*>(o->context);
    self->guard_.wait_started();
    if (self->account() && self->issue()) return;  // the next step is in flight
    o->complete = self->final_;
    o->context = self->final_context_;
    o->complete(o);
  }

  operation op_;
  half_claim<Write> claim_;
  bool eof_ = false;
  [[no_unique_address]] Steps steps_;
  std::size_t done_ = 0;
  void (*final_)(operation*) noexcept = nullptr;
  void* final_context_ = nullptr;
  [[no_unique_address]] step_start_guard guard_;
};

/// The steps of write_all / read_exact over one buffer, which the
/// operation's own arguments track: nothing kept besides.
template <bool Write>
struct contiguous_steps {
  using buffer_ptr = std::conditional_t<Write, const std::byte*, std::byte*>;
  static void prepare(operation& op, buffer_ptr data, std::size_t size) noexcept {
    op.code = Write ? op_code::send : op_code::recv;
    op.args.buf = {const_cast<std::byte*>(data), size};
  }
  static bool next(operation& op) noexcept { return op.args.buf.size != 0; }
  static void advance(operation& op, std::size_t n) noexcept {
    op.args.buf.data = static_cast<std::byte*>(op.args.buf.data) + n;
    op.args.buf.size -= n;
  }
};

/// The steps of a gather write_all: each step sends what is left of up to
/// max_io_vecs slices with one sendmsg / WSASend, and the slices are
/// advanced in place as bytes go out (as Tokio's write_all_vectored does).
struct gather_steps {
  io_vec* vecs;
  std::size_t count;
  static void prepare(operation& op) noexcept { op.code = op_code::send_vectored; }
  bool next(operation& op) noexcept {
    while (count > 0 && vecs->size == 0) {
      ++vecs;
      --count;
    }
    if (count == 0) return false;
    op.args.vec = {vecs, count < max_io_vecs ? count : max_io_vecs};
    return true;
  }
  void advance(operation&, std::size_t n) noexcept {
    while (n > 0) {
      const std::size_t take = n < vecs->size ? n : vecs->size;
      vecs->data = static_cast<const std::byte*>(vecs->data) + take;
      vecs->size -= take;
      n -= take;
      if (vecs->size == 0) {
        ++vecs;
        --count;
      }
    }
  }
};

template <bool Write>
using transfer_all_awaiter = stepped_awaiter<Write, contiguous_steps<Write>>;
using gather_awaiter = stepped_awaiter<true, gather_steps>;

}  // namespace corio::detail
