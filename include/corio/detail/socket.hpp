// corio/detail/socket.hpp: ownership of a socket_core, and the awaiter that
// every stream read and write uses.
#pragma once

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

/// A read or a write on one stream half. The busy flag of that half is taken
/// before the operation starts and released after it completes, so a second
/// concurrent operation on the same half fails with
/// errc::concurrent_operation and never reaches the kernel (lesson 1).
template <bool Write>
class transfer_awaiter : public op_awaiter_base<transfer_awaiter<Write>> {
 public:
  using buffer_ptr = std::conditional_t<Write, const void*, void*>;
  transfer_awaiter(socket_core* s, buffer_ptr data, std::size_t size) noexcept
      : sock_(s), data_(data), size_(size) {}

  operation& op() noexcept { return op_; }
  bool start() noexcept {
    if (!sock_) {
      state_ = refused::not_open;
      return false;
    }
    if (flag().exchange(true, std::memory_order_acquire)) {
      state_ = refused::busy;
      return false;
    }
    if constexpr (Write) {
      return start_send(op_, *sock_, data_, size_);
    } else {
      return start_recv(op_, *sock_, data_, size_);
    }
  }
  result<std::size_t> await_resume() noexcept {
    if (state_ == refused::not_open) return fail(errc::not_open);
    if (state_ == refused::busy) return fail(errc::concurrent_operation);
    flag().store(false, std::memory_order_release);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return static_cast<std::size_t>(op_.res);
  }

 private:
  enum class refused : std::uint8_t { no, not_open, busy };
  std::atomic<bool>& flag() noexcept { return Write ? sock_->writing : sock_->reading; }

  operation op_;
  socket_core* sock_;
  buffer_ptr data_;
  std::size_t size_;
  refused state_ = refused::no;
};

}  // namespace corio::detail
