// corio/detail/socket.hpp: ownership of a socket_core, and the awaiter that
// every stream read and write uses.
#pragma once

#include <cerrno>
#include <memory>
#include <ranges>
#include <type_traits>

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

/// The direction (read or write) of a socket that one operation holds while
/// it is in flight. Taking it refuses a second concurrent operation in the
/// same direction before it reaches the kernel (lesson 1).
template <bool Write>
class half_claim {
 public:
  explicit half_claim(socket_core* s) noexcept : sock_(s) {}
  /// True when the operation may start; false when it is refused.
  bool take() noexcept {
    if (!sock_) {
      state_ = state::not_open;
    } else if (flag().exchange(true, std::memory_order_acquire)) {
      state_ = state::busy;
    } else {
      state_ = state::held;
    }
    return state_ == state::held;
  }
  /// After the operation: releases the direction, or says why it never
  /// started.
  std::error_code finish() noexcept {
    switch (state_) {
      case state::held:
        flag().store(false, std::memory_order_release);
        return {};
      case state::not_open: return make_error_code(errc::not_open);
      case state::busy: return make_error_code(errc::concurrent_operation);
    }
    return {};
  }
  socket_core& socket() const noexcept { return *sock_; }

 private:
  enum class state : std::uint8_t { held, not_open, busy };
  std::atomic<bool>& flag() noexcept { return Write ? sock_->writing : sock_->reading; }
  socket_core* sock_;
  state state_ = state::held;
};

/// A read or a write on one stream half. The busy flag of that half is taken
/// before the operation starts and released after it completes, so a second
/// concurrent operation on the same half fails with
/// errc::concurrent_operation and never reaches the kernel (lesson 1).
template <bool Write>
class transfer_awaiter : public op_awaiter_base<transfer_awaiter<Write>> {
 public:
  using buffer_ptr = std::conditional_t<Write, const void*, void*>;
  transfer_awaiter(socket_core* s, buffer_ptr data, std::size_t size) noexcept
      : claim_(s), data_(data), size_(size) {}

  operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!claim_.take()) return false;
    if constexpr (Write) {
      return start_send(op_, claim_.socket(), data_, size_);
    } else {
      return start_recv(op_, claim_.socket(), data_, size_);
    }
  }
  result<std::size_t> await_resume() noexcept {
    if (auto refused = claim_.finish()) return fail(refused);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return static_cast<std::size_t>(op_.res);
  }

 private:
  operation op_;
  half_claim<Write> claim_;
  buffer_ptr data_;
  std::size_t size_;
};

/// wait_readable: holds the reading direction, like a read.
class readable_awaiter : public op_awaiter_base<readable_awaiter> {
 public:
  explicit readable_awaiter(socket_core* s) noexcept : claim_(s) {}
  operation& op() noexcept { return op_; }
  bool start() noexcept { return claim_.take() && start_wait_readable(op_, claim_.socket()); }
  result<void> await_resume() noexcept {
    if (auto refused = claim_.finish()) return fail(refused);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return {};
  }

 private:
  operation op_;
  half_claim<false> claim_;
};

/// write_all / read_exact: repeats the transfer until the whole buffer is
/// done, without a coroutine frame per call (so without an allocation). A
/// combinator wrapping it (with_stop, with_timeout) sets op().complete before
/// start(); that callback runs once, when the whole transfer has ended.
template <bool Write>
class transfer_all_awaiter : public op_awaiter_base<transfer_all_awaiter<Write>> {
 public:
  using buffer_ptr = std::conditional_t<Write, const std::byte*, std::byte*>;
  transfer_all_awaiter(socket_core* s, buffer_ptr data, std::size_t size) noexcept
      : claim_(s), data_(data), size_(size) {}

  operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!claim_.take()) return false;
    final_ = op_.complete;
    final_context_ = op_.context;
    op_.complete = step_done;
    op_.context = this;
    return issue();
  }
  result<void> await_resume() noexcept {
    if (auto refused = claim_.finish()) return fail(refused);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    if (done_ < size_) return fail(errc::unexpected_eof);
    return {};
  }
  /// Bytes transferred, including those of a transfer that then failed.
  std::size_t transferred() const noexcept { return done_; }

 private:

  // Starts steps until one is in flight (true) or the transfer is over
  // (false: complete, failed, or EOF).
  bool issue() noexcept {
    while (done_ < size_) {
      // TRICKY: on IOCP a cancel may come from another thread just after a
      // step completed, find nothing in flight, and be lost; the flag it
      // leaves stops the next step from starting. (A cancel racing the very
      // start of a step can still miss it; that step then ends normally.)
      if (std::atomic_ref<std::uint8_t>(op_.cancel_requested).load(std::memory_order_acquire)) {
        op_.res = -static_cast<std::int64_t>(ECANCELED);
        return false;
      }
      bool pending;
      if constexpr (Write) {
        pending = start_send(op_, claim_.socket(), data_ + done_, size_ - done_);
      } else {
        pending = start_recv(op_, claim_.socket(), data_ + done_, size_ - done_);
      }
      if (pending) return true;
      if (!account()) return false;
    }
    op_.res = 0;
    return false;
  }
  // Adds a finished step; false when it ended the transfer (error or EOF).
  bool account() noexcept {
    if (op_.res <= 0) return false;
    done_ += static_cast<std::size_t>(op_.res);
    return true;
  }
  static void step_done(operation* o) noexcept {
    auto* self = static_cast<transfer_all_awaiter*>(o->context);
    if (self->account() && self->issue()) return;  // the next step is in flight
    o->complete = self->final_;
    o->context = self->final_context_;
    o->complete(o);
  }

  operation op_;
  half_claim<Write> claim_;
  buffer_ptr data_;
  std::size_t size_;
  std::size_t done_ = 0;
  void (*final_)(operation*) noexcept = nullptr;
  void* final_context_ = nullptr;
};

}  // namespace corio::detail
