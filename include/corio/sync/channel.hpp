// corio/sync/channel.hpp: a bounded multi-producer, multi-consumer queue
// between coroutines, on any workers.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "corio/result.hpp"
#include "corio/sync/waiter.hpp"

namespace corio {

/// A bounded FIFO queue that coroutines on any workers send to and receive
/// from. `co_await ch.send(v)` suspends while the channel is full and
/// `co_await ch.receive()` while it is empty; neither blocks a thread.
/// Values leave in the order they went in (for suspended senders, in the
/// order they suspended); each value is received exactly once.
///
/// close() ends the channel: every suspended sender and receiver resumes
/// with errc::not_open, later sends fail with it, and receivers first get
/// the values still buffered, then errc::not_open.
///
/// A suspended send or receive resumes on the worker where it suspended,
/// through the runtime's cross-thread wake-up, never inline in the call
/// that woke it. The buffer is allocated once, at construction; sending,
/// receiving and waiting allocate nothing. Thread-safe: a small mutex per
/// channel, never held while a coroutine runs.
///
/// The channel must outlive every operation on it. Destroying it while a
/// coroutine is suspended on it is a bug and calls std::terminate.
template <class T>
class channel {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "corio::channel<T>: T must be nothrow move constructible");

  // A suspended sender keeps its value until a receiver (or room) takes it.
  struct send_waiter : detail::sync_waiter {
    explicit send_waiter(T v) noexcept : value(std::move(v)) {}
    T value;
  };
  // A suspended receiver; a sender fills `slot` before waking it.
  struct receive_waiter : detail::sync_waiter {
    std::optional<T> slot;
  };

 public:
  using value_type = T;

  /// A channel that buffers up to `capacity` values (at least 1;
  /// std::invalid_argument for 0).
  explicit channel(std::size_t capacity)
      : capacity_(capacity == 0 ? throw std::invalid_argument("corio::channel: capacity 0")
                                : capacity),
        buf_(std::allocator<T>{}.allocate(capacity_)) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel() {
    if (!senders_.empty() || !receivers_.empty()) std::terminate();
    while (size_ > 0) pop_value();
    std::allocator<T>{}.deallocate(buf_, capacity_);
  }

  class [[nodiscard]] send_awaiter;
  class [[nodiscard]] receive_awaiter;

  /// Sends `value`: completes at once if a receiver is waiting or there is
  /// room, else suspends until there is. Resumes with success, with
  /// errc::not_open if the channel is (or gets) closed, or with
  /// std::errc::operation_canceled if `token` stops it first (the value is
  /// then not sent). A value that was sent is received exactly once.
  send_awaiter send(T value, std::stop_token token = {}) noexcept {
    return send_awaiter(*this, std::move(value), std::move(token));
  }

  /// Receives the oldest value: completes at once if one is buffered, else
  /// suspends until one is sent. Resumes with the value, with errc::not_open
  /// once the channel is closed and empty, or with
  /// std::errc::operation_canceled if `token` stops it first (no value is
  /// taken then).
  receive_awaiter receive(std::stop_token token = {}) noexcept {
    return receive_awaiter(*this, std::move(token));
  }

  /// Sends without ever suspending, from any thread (a runtime worker or
  /// not). Fails with std::errc::resource_unavailable_try_again when the
  /// channel is full and errc::not_open when it is closed. An rvalue T is
  /// moved from only on success; anything else is first converted to a T
  /// (a copy, made outside the channel's lock).
  template <class U = T>
    requires std::is_constructible_v<T, U&&>
  result<void> try_send(U&& value) {
    if constexpr (std::is_same_v<U, T>) {  // an rvalue T
      return try_send_ref(value);
    } else {
      T v(std::forward<U>(value));
      return try_send_ref(v);
    }
  }

  /// Receives without ever suspending, from any thread. Fails with
  /// std::errc::resource_unavailable_try_again when the channel is empty and
  /// open, errc::not_open when it is empty and closed.
  result<T> try_receive() noexcept {
    detail::wake_list wakes;
    std::lock_guard lock(mu_);
    if (size_ > 0) return take(wakes);
    if (closed_) return fail(errc::not_open);
    return fail(std::errc::resource_unavailable_try_again);
  }

  /// Closes the channel, from any thread: wakes every suspended sender and
  /// receiver with errc::not_open. Values already buffered can still be
  /// received. Closing twice is harmless.
  void close() noexcept {
    detail::wake_list wakes;
    std::lock_guard lock(mu_);
    closed_ = true;
    const auto not_open = make_error_code(errc::not_open);
    while (!senders_.empty()) wakes.add(senders_.pop_front(), not_open);
    while (!receivers_.empty()) wakes.add(receivers_.pop_front(), not_open);
  }

  bool is_closed() const noexcept {
    std::lock_guard lock(mu_);
    return closed_;
  }
  /// Values buffered now (a snapshot when other threads use the channel).
  std::size_t size() const noexcept {
    std::lock_guard lock(mu_);
    return size_;
  }
  std::size_t capacity() const noexcept { return capacity_; }
  /// Coroutines suspended in send() / receive() now (snapshots, for tests
  /// and metrics).
  std::size_t senders_waiting() const noexcept {
    std::lock_guard lock(mu_);
    return senders_.size();
  }
  std::size_t receivers_waiting() const noexcept {
    std::lock_guard lock(mu_);
    return receivers_.size();
  }

  /// The awaiter of send(); see there.
  class [[nodiscard]] send_awaiter : detail::wait_base<send_waiter> {
   public:
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      return this->suspend(
          ch_.mu_, h, [this](detail::wake_list& wakes) noexcept { return ch_.send_now(this->w_, wakes); },
          [this](detail::sync_waiter&) noexcept { ch_.senders_.push_back(this->w_); });
    }
    result<void> await_resume() noexcept {
      this->finish();
      if (this->w_.ec) return fail(this->w_.ec);
      return {};
    }

    /// with_stop(ch.send(v), token): the same send, given up when `token`
    /// stops (the token replaces any given to send()).
    friend send_awaiter rebind_stop(send_awaiter&& a, std::stop_token token) noexcept {
      a.token_ = std::move(token);
      return std::move(a);
    }

   private:
    friend class channel;
    send_awaiter(channel& ch, T value, std::stop_token token) noexcept
        : detail::wait_base<send_waiter>(std::move(token), std::move(value)), ch_(ch) {}
    channel& ch_;
  };

  /// The awaiter of receive(); see there.
  class [[nodiscard]] receive_awaiter : detail::wait_base<receive_waiter> {
   public:
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) noexcept {
      return this->suspend(
          ch_.mu_, h,
          [this](detail::wake_list& wakes) noexcept { return ch_.receive_now(this->w_, wakes); },
          [this](detail::sync_waiter&) noexcept { ch_.receivers_.push_back(this->w_); });
    }
    result<T> await_resume() noexcept {
      this->finish();
      if (this->w_.ec) return fail(this->w_.ec);
      return std::move(*this->w_.slot);
    }

    /// with_stop(ch.receive(), token): the same receive, given up when
    /// `token` stops (the token replaces any given to receive()).
    friend receive_awaiter rebind_stop(receive_awaiter&& a, std::stop_token token) noexcept {
      a.token_ = std::move(token);
      return std::move(a);
    }

   private:
    friend class channel;
    receive_awaiter(channel& ch, std::stop_token token) noexcept
        : detail::wait_base<receive_waiter>(std::move(token)), ch_(ch) {}
    channel& ch_;
  };

 private:
  // The queues link sync_waiters; these casts are safe because senders_
  // only ever holds send_waiters and receivers_ only receive_waiters.
  static send_waiter& as_sender(detail::sync_waiter& w) noexcept {
    return static_cast<send_waiter&>(w);
  }
  static receive_waiter& as_receiver(detail::sync_waiter& w) noexcept {
    return static_cast<receive_waiter&>(w);
  }

  // Invariants, under mu_: receivers wait only while the buffer is empty,
  // senders only while it is full; so at most one of the queues is
  // non-empty, and a value never waits in a sender while there is room.

  // try_send's body: moves from `value` only on success.
  result<void> try_send_ref(T& value) noexcept {
    detail::wake_list wakes;  // destroyed after the lock: resumes unlocked
    std::lock_guard lock(mu_);
    if (closed_) return fail(errc::not_open);
    if (!receivers_.empty()) {
      hand_over(wakes, std::move(value));
      return {};
    }
    if (size_ == capacity_) return fail(std::errc::resource_unavailable_try_again);
    push_value(std::move(value));
    return {};
  }

  // Under mu_. Completes a send at once if it can.
  bool send_now(send_waiter& w, detail::wake_list& wakes) noexcept {
    if (closed_) {
      w.ec = make_error_code(errc::not_open);
      return true;
    }
    if (!receivers_.empty()) {
      hand_over(wakes, std::move(w.value));
      return true;
    }
    if (size_ < capacity_) {
      push_value(std::move(w.value));
      return true;
    }
    return false;
  }

  // Under mu_. Completes a receive at once if it can.
  bool receive_now(receive_waiter& w, detail::wake_list& wakes) noexcept {
    if (size_ > 0) {
      w.slot.emplace(take(wakes));
      return true;
    }
    if (closed_) {
      w.ec = make_error_code(errc::not_open);
      return true;
    }
    return false;
  }

  // Under mu_, with a receiver waiting (so the buffer is empty): gives it
  // the value directly.
  template <class U>
  void hand_over(detail::wake_list& wakes, U&& value) noexcept {
    receive_waiter& r = as_receiver(receivers_.pop_front());
    r.slot.emplace(std::forward<U>(value));
    wakes.add(r);
  }

  // Under mu_, with the buffer non-empty: takes the oldest value, and lets
  // the oldest suspended sender (if any) into the freed place, which keeps
  // the order values were sent in.
  T take(detail::wake_list& wakes) noexcept {
    T v = pop_value();
    if (!senders_.empty()) {
      send_waiter& s = as_sender(senders_.pop_front());
      push_value(std::move(s.value));
      wakes.add(s);
    }
    return v;
  }

  template <class U>
  void push_value(U&& v) noexcept {
    std::size_t tail = head_ + size_;
    if (tail >= capacity_) tail -= capacity_;
    std::construct_at(buf_ + tail, std::forward<U>(v));
    ++size_;
  }
  T pop_value() noexcept {
    T v = std::move(buf_[head_]);
    std::destroy_at(buf_ + head_);
    if (++head_ == capacity_) head_ = 0;
    --size_;
    return v;
  }

  mutable std::mutex mu_;
  const std::size_t capacity_;
  T* buf_;                  // capacity_ slots; size_ of them live, from head_
  std::size_t head_ = 0;    // guarded by mu_
  std::size_t size_ = 0;    // guarded by mu_
  bool closed_ = false;     // guarded by mu_
  detail::waiter_queue senders_;    // send_waiters, oldest first
  detail::waiter_queue receivers_;  // receive_waiters, oldest first
};

}  // namespace corio
