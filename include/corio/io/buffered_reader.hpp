// corio/io/buffered_reader.hpp: reading lines, delimited records and exact
// counts from any readable stream, through one buffer of its own.
#pragma once

#include <algorithm>
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

/// A read buffer in front of a stream. Each operation reads from the
/// stream only when the buffer does not already hold what it needs, so a
/// line protocol costs one read per batch of lines, not per line.
///
/// Views returned by read_until, read_line and buffered() point into the
/// buffer and stay valid until the next operation on the reader (or
/// consume()). A line (record) can be at most capacity() bytes; a larger
/// limit is capped there. Nothing read is ever dropped: after
/// errc::limit_exceeded, errc::unexpected_eof or an I/O error, what was
/// buffered is still in buffered().
///
/// One operation at a time (as on the stream below). Once warm, no
/// operation allocates: the buffer is allocated once, by the constructor,
/// and each operation's frame comes from the worker's frame cache.
template <readable_stream Stream>
class buffered_reader {
 public:
  /// A reader over `s` (which must outlive it) with a buffer of `capacity`
  /// bytes (at least 1), allocated here.
  explicit buffered_reader(Stream& s, std::size_t capacity = 8192)
      : stream_(&s),
        owned_(std::make_unique_for_overwrite<std::byte[]>(std::max<std::size_t>(capacity, 1))),
        buf_(owned_.get(), std::max<std::size_t>(capacity, 1)) {}
  /// A reader over `s` using the caller's `storage` (which must outlive it;
  /// not empty) as its buffer: allocates nothing.
  buffered_reader(Stream& s, std::span<std::byte> storage) noexcept : stream_(&s), buf_(storage) {}

  /// Moves the buffer and its contents; the moved-from object may only be
  /// destroyed or assigned to.
  buffered_reader(buffered_reader&&) noexcept = default;
  buffered_reader& operator=(buffered_reader&&) noexcept = default;

  /// Every read from the stream that the reader starts from now on is
  /// bound to `token`: where the stream's reads are corio operations
  /// (tcp_stream), a stop cancels the one in flight and the reader's
  /// operation ends with std::errc::operation_canceled; otherwise the token
  /// is checked before each read. Buffered data is kept either way.
  void set_stop_token(std::stop_token token) noexcept { stop_ = std::move(token); }

  /// The bytes buffered and not consumed yet (a peek: nothing is read).
  std::span<const std::byte> buffered() const noexcept {
    return std::span<const std::byte>(buf_).subspan(begin_, end_ - begin_);
  }
  /// Drops the first `n` buffered bytes (at most buffered().size()).
  void consume(std::size_t n) noexcept {
    begin_ += std::min(n, end_ - begin_);
    if (begin_ == end_) begin_ = end_ = 0;
  }
  /// The buffer's size: the longest line or record the reader can hold.
  std::size_t capacity() const noexcept { return buf_.size(); }
  /// The stream below.
  Stream& stream() const noexcept { return *stream_; }

  /// Reads once from the stream into the buffer's free space (moving the
  /// buffered bytes to its front first when that makes room). Resumes with
  /// the count added; 0 means the stream ended. Fails with
  /// errc::limit_exceeded when the buffer is already full.
  task<result<std::size_t>> fill() {
    if (end_ == buf_.size()) {
      if (begin_ == 0) co_return fail(errc::limit_exceeded);
      compact();
    }
    auto aw = stream_->read(buf_.subspan(end_));
    if (detail::stop_checked<decltype(aw)>(stop_)) co_return fail(std::errc::operation_canceled);
    result<std::size_t> n = co_await detail::bind_stop(std::move(aw), stop_);
    if (n) end_ += *n;
    co_return n;
  }

  /// Reads until at least `n` bytes are buffered (or the stream ends) and
  /// resumes with a view of everything buffered, consuming nothing: a look
  /// ahead (sniffing a protocol's first bytes). The view is shorter than
  /// `n` only when the stream ended first. Fails with errc::limit_exceeded
  /// when `n` is larger than capacity().
  task<result<std::span<const std::byte>>> peek(std::size_t n) {
    if (n > buf_.size()) co_return fail(errc::limit_exceeded);
    while (end_ - begin_ < n) {
      if (begin_ + n > buf_.size()) compact();
      auto got = co_await fill();
      if (!got) co_return fail(got.error());
      if (*got == 0) break;
    }
    co_return buffered();
  }

  /// Reads up to and including the first `delimiter` (one or more bytes,
  /// not empty), searching at most min(max, capacity()) bytes. Resumes with
  /// a view of the record, delimiter included, which is consumed; the view
  /// is valid until the next operation on the reader. Fails with
  /// errc::limit_exceeded when no delimiter is within the limit,
  /// errc::end_of_stream when the stream ended with nothing buffered, and
  /// errc::unexpected_eof when it ended in the middle of a record; in all
  /// three cases what was read stays in buffered().
  task<result<std::span<const std::byte>>> read_until(std::string_view delimiter, std::size_t max) {
    const std::size_t limit = std::min(max, buf_.size());
    const auto* delim = reinterpret_cast<const std::byte*>(delimiter.data());
    std::size_t scanned = 0;  // bytes after begin_ already searched
    for (;;) {
      // Search only what the previous pass had not seen, less the bytes
      // that may start a delimiter split across two reads.
      const std::size_t avail = std::min(end_ - begin_, limit);
      const std::size_t from = scanned >= delimiter.size() ? scanned - (delimiter.size() - 1) : 0;
      const std::byte* base = buf_.data() + begin_;
      if (avail >= delimiter.size() && from <= avail - delimiter.size()) {
        const std::byte* hit =
            std::search(base + from, base + avail, delim, delim + delimiter.size());
        if (hit != base + avail) {
          const std::size_t n = static_cast<std::size_t>(hit - base) + delimiter.size();
          std::span<const std::byte> record(base, n);
          consume(n);
          co_return record;
        }
      }
      scanned = avail;
      if (avail >= limit) co_return fail(errc::limit_exceeded);
      if (begin_ + limit > buf_.size()) compact();  // room for the whole limit
      auto n = co_await fill();
      if (!n) co_return fail(n.error());
      if (*n == 0) co_return fail(end_ == begin_ ? errc::end_of_stream : errc::unexpected_eof);
    }
  }
  /// read_until with a one-byte delimiter.
  task<result<std::span<const std::byte>>> read_until(char delimiter, std::size_t max) {
    // A coroutine of its own, so the one-byte delimiter lives in its frame
    // while the search runs.
    const char d[1] = {delimiter};
    co_return co_await read_until(std::string_view(d, 1), max);
  }

  /// Reads one line ended by LF or CRLF, of at most min(max, capacity())
  /// bytes with its ending. Resumes with the line without its ending; the
  /// view is valid until the next operation on the reader. Fails like
  /// read_until: errc::limit_exceeded, errc::end_of_stream (no more lines),
  /// errc::unexpected_eof (a last line without an ending, left buffered).
  task<result<std::string_view>> read_line(std::size_t max) {
    auto record = co_await read_until(std::string_view("\n", 1), max);
    if (!record) co_return fail(record.error());
    std::string_view line(reinterpret_cast<const char*>(record->data()), record->size() - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    co_return line;
  }

  /// Fills `out` completely: buffered bytes first, then from the stream (a
  /// large remainder straight into `out`, past the buffer). Fails with
  /// errc::unexpected_eof if the stream ends first (the bytes already
  /// copied into `out` are consumed).
  task<result<void>> read_exact(std::span<std::byte> out) {
    std::size_t done = take_buffered(out);
    while (done < out.size()) {
      const std::size_t left = out.size() - done;
      result<std::size_t> n;
      if (left >= buf_.size()) {
        auto aw = stream_->read(out.subspan(done));
        if (detail::stop_checked<decltype(aw)>(stop_))
          co_return fail(std::errc::operation_canceled);
        n = co_await detail::bind_stop(std::move(aw), stop_);
        if (n) done += *n;
      } else {
        n = co_await fill();
        if (n) done += take_buffered(out.subspan(done));
      }
      if (!n) co_return fail(n.error());
      if (*n == 0) co_return fail(errc::unexpected_eof);
    }
    co_return result<void>{};
  }

  /// Reads some bytes into `out`: buffered ones if there are any, else one
  /// read from the stream (straight into `out` when it is at least as large
  /// as the buffer). 0 means the stream ended. A buffered_reader is itself a
  /// readable_stream.
  task<result<std::size_t>> read(std::span<std::byte> out) {
    if (out.empty()) co_return 0;
    if (end_ == begin_) {
      if (out.size() >= buf_.size()) {
        auto aw = stream_->read(out);
        if (detail::stop_checked<decltype(aw)>(stop_))
          co_return fail(std::errc::operation_canceled);
        co_return co_await detail::bind_stop(std::move(aw), stop_);
      }
      auto n = co_await fill();
      if (!n || *n == 0) co_return n;
    }
    co_return take_buffered(out);
  }

 private:
  // Moves the unconsumed bytes to the front of the buffer.
  void compact() noexcept {
    if (begin_ == 0) return;
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // Copies buffered bytes into `out` and consumes them; returns the count.
  std::size_t take_buffered(std::span<std::byte> out) noexcept {
    const std::size_t n = std::min(out.size(), end_ - begin_);
    if (n) std::memcpy(out.data(), buf_.data() + begin_, n);
    consume(n);
    return n;
  }

  Stream* stream_;
  std::unique_ptr<std::byte[]> owned_;  // the buffer, unless the caller lent one
  std::span<std::byte> buf_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last buffered byte
  std::stop_token stop_;
};

}  // namespace corio::io
