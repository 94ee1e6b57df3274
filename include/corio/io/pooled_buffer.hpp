// corio/io/pooled_buffer.hpp: a received buffer that the runtime owns
// (basic_stream::read_pooled), so that a connection waiting for data holds
// no buffer of its own.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include "corio/detail/pooled.hpp"

namespace corio::io {

/// What read_pooled received: a runtime-owned buffer and how much of it
/// holds data. Move-only; the buffer goes back to the runtime (io_uring:
/// the worker's buffer ring, where the kernel picks it again; elsewhere:
/// a per-thread pool) when the pooled_buffer is destroyed or reset().
/// Holding one across awaits is fine; while it is held, its buffer is not
/// available to other reads (a worker's ring has a few hundred; past that,
/// reads take buffers from the pool).
///
/// It may be destroyed on any thread; one destroyed off its worker reaches
/// the worker's ring at its next poll. Release every pooled_buffer before
/// its runtime is destroyed is not required: the memory stays valid until
/// the last one is released.
class [[nodiscard]] pooled_buffer {
 public:
  /// No buffer: bytes() is empty.
  pooled_buffer() noexcept = default;
  pooled_buffer(pooled_buffer&& o) noexcept
      : block_(std::exchange(o.block_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  pooled_buffer& operator=(pooled_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      block_ = std::exchange(o.block_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  pooled_buffer(const pooled_buffer&) = delete;
  pooled_buffer& operator=(const pooled_buffer&) = delete;
  ~pooled_buffer() { reset(); }

  /// The bytes received. Empty after an orderly end of the stream (and on a
  /// default-constructed or reset buffer).
  std::span<std::byte> bytes() const noexcept {
    return block_ ? std::span<std::byte>(block_->data, size_) : std::span<std::byte>();
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Gives the buffer back now; bytes() is empty afterwards.
  void reset() noexcept {
    if (block_) detail::release_pooled(std::exchange(block_, nullptr));
    size_ = 0;
  }

  /// For the awaiter: takes ownership of `b`, of which `size` bytes hold data.
  pooled_buffer(detail::pooled_block* b, std::size_t size) noexcept : block_(b), size_(size) {}

 private:
  detail::pooled_block* block_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace corio::io

namespace corio::detail {

/// read_pooled: one recv_pooled operation, holding the reading direction
/// like a read. If the awaiter is destroyed after the operation completed
/// but before await_resume took the buffer (a combinator that drops the
/// result), the buffer still goes back.
class [[nodiscard("a read does nothing until it is co_awaited")]] pooled_read_awaiter
    : public op_awaiter_base<pooled_read_awaiter> {
 public:
  explicit pooled_read_awaiter(socket_core* s) noexcept {
    op_.code = op_code::recv_pooled;
    op_.sock = s;
    op_.args.pooled = {nullptr, 0};
  }
  pooled_read_awaiter(pooled_read_awaiter&& o) noexcept : op_(o.op_), claim_(o.claim_) {
    o.op_.args.pooled.block = nullptr;
  }
  pooled_read_awaiter& operator=(pooled_read_awaiter&&) = delete;
  ~pooled_read_awaiter() {
    if (op_.args.pooled.block) release_pooled(op_.args.pooled.block);
  }

  operation& op() noexcept { return op_; }
  bool start() noexcept { return claim_.take(op_.sock) && detail::start(op_); }
  result<io::pooled_buffer> await_resume() noexcept {
    pooled_block* b = std::exchange(op_.args.pooled.block, nullptr);
    io::pooled_buffer got(b, op_.res > 0 ? static_cast<std::size_t>(op_.res) : 0);
    if (auto refused = claim_.finish(op_.sock)) return fail(refused);
    if (op_.res < 0) return fail(error_from_result(op_.res));
    return got;
  }

 private:
  operation op_;
  half_claim<false> claim_;
};

}  // namespace corio::detail
