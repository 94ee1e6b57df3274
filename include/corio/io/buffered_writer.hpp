// corio/io/buffered_writer.hpp: coalescing small writes to any writable
// stream into few large ones.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <stop_token>
#include <string_view>

#include "corio/io/stream.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace corio::io {

/// A write buffer in front of a stream. write() copies into the buffer and
/// reaches the stream only when the buffer is full; flush() sends what is
/// buffered. A write at least as large as the buffer is not copied: it goes
/// to the stream straight after the buffered bytes (as one gathered write
/// where the stream has one, see gather_writable_stream).
///
/// Nothing is sent until the buffer fills or flush() is awaited: flush
/// before waiting for a reply, and before destroying the writer (its
/// destructor sends nothing). One operation at a time. Once warm, no
/// operation allocates.
template <writable_stream Stream>
class buffered_writer {
 public:
  /// A writer over `s` (which must outlive it) with a buffer of `capacity`
  /// bytes (at least 1), allocated here.
  explicit buffered_writer(Stream& s, std::size_t capacity = 8192)
      : stream_(&s),
        owned_(std::make_unique_for_overwrite<std::byte[]>(std::max<std::size_t>(capacity, 1))),
        buf_(owned_.get(), std::max<std::size_t>(capacity, 1)) {}
  /// A writer over `s` using the caller's `storage` (which must outlive it;
  /// not empty) as its buffer: allocates nothing.
  buffered_writer(Stream& s, std::span<std::byte> storage) noexcept : stream_(&s), buf_(storage) {}

  /// Moves the buffer and its contents; the moved-from object may only be
  /// destroyed or assigned to.
  buffered_writer(buffered_writer&&) noexcept = default;
  buffered_writer& operator=(buffered_writer&&) noexcept = default;

  /// Every write to the stream that the writer starts from now on is bound
  /// to `token` (see buffered_reader::set_stop_token).
  void set_stop_token(std::stop_token token) noexcept { stop_ = std::move(token); }

  /// Bytes written into the buffer and not yet sent.
  std::size_t pending() const noexcept { return used_; }
  std::size_t capacity() const noexcept { return buf_.size(); }
  Stream& stream() const noexcept { return *stream_; }

  /// Appends `data`. Resumes at once, without I/O, while it fits in the
  /// buffer; otherwise sends what is buffered first (and `data` with it,
  /// when it is as large as the buffer). On a failed send the error is
  /// returned and the buffered bytes are dropped: the stream is broken.
  task<result<void>> write(std::span<const std::byte> data) {
    if (data.size() <= buf_.size() - used_) {
      append(data);
      co_return result<void>{};
    }
    if (data.size() >= buf_.size()) co_return co_await write_through(data);
    if (auto sent = co_await flush(); !sent) co_return sent;
    append(data);
    co_return result<void>{};
  }
  /// write() of the characters of `text`.
  task<result<void>> write(std::string_view text) {
    return write(std::as_bytes(std::span(text.data(), text.size())));
  }
  /// A writer is itself a writable_stream: write_all is write().
  task<result<void>> write_all(std::span<const std::byte> data) { return write(data); }

  /// Sends everything buffered. Resumes at once when nothing is.
  task<result<void>> flush() {
    if (used_ == 0) co_return result<void>{};
    auto sent = co_await send(std::span<const std::byte>(buf_.data(), used_));
    used_ = 0;  // sent, or the stream is broken: either way not sent again
    co_return sent;
  }

  /// Flushes, then shuts down the stream's sending side (the peer reads
  /// its end).
  task<result<void>> shutdown() requires half_closable<Stream> {
    if (auto sent = co_await flush(); !sent) co_return sent;
    if constexpr (shuts_down_at_once<Stream>) {
      co_return stream_->shutdown();
    } else {
      co_return co_await stream_->shutdown();
    }
  }

 private:
  void append(std::span<const std::byte> data) noexcept {
    if (!data.empty()) std::memcpy(buf_.data() + used_, data.data(), data.size());
    used_ += data.size();
  }

  // A write as large as the buffer: the buffered bytes, then `data`, not
  // copied. THE GATHER POINT: where the stream has a gathered write_all
  // (sendmsg / one WSASend over several WSABUFs) both go in one call;
  // otherwise in two.
  task<result<void>> write_through(std::span<const std::byte> data) {
    if (used_ == 0) co_return co_await send(data);
    const std::span<const std::byte> head(buf_.data(), used_);
    used_ = 0;
    if constexpr (gather_writable_stream<Stream>) {
      // Advanced in place as bytes go out; lives in this frame until then.
      std::array<io_slice, 2> parts{as_slice(head), as_slice(data)};
      auto aw = stream_->write_all(std::span<io_slice>(parts));
      if (detail::stop_checked<decltype(aw)>(stop_)) co_return fail(std::errc::operation_canceled);
      co_return co_await detail::bind_stop(std::move(aw), stop_);
    } else {
      if (auto sent = co_await send(head); !sent) co_return sent;
      co_return co_await send(data);
    }
  }

  task<result<void>> send(std::span<const std::byte> data) {
    auto aw = stream_->write_all(data);
    if (detail::stop_checked<decltype(aw)>(stop_)) co_return fail(std::errc::operation_canceled);
    co_return co_await detail::bind_stop(std::move(aw), stop_);
  }

  Stream* stream_;
  std::unique_ptr<std::byte[]> owned_;  // the buffer, unless the caller lent one
  std::span<std::byte> buf_;
  std::size_t used_ = 0;  // bytes buffered, from the front
  std::stop_token stop_;
};

}  // namespace corio::io
