// corio/io/buffered_reader.hpp: reading lines, delimited records and exact
// counts from any readable stream, through a buffer: the reader's own, or,
// over a TCP stream, the runtime's pooled receive buffers (read_pooled), so
// that a connection waiting for data holds no buffer.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string_view>
#include <utility>

#include "corio/io/pooled_buffer.hpp"
#include "corio/io/stream.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"

namespace corio::io {

/// A readable stream that can also read into the runtime's pooled buffers:
/// `s.read_pooled()` gives an awaitable of result<io::pooled_buffer>
/// (net::tcp_stream and its read half; docs/pooled-reads.md).
template <class S>
concept pooled_readable_stream = readable_stream<S> && requires(S& s) {
  {s.read_pooled()};
  requires std::same_as<detail::await_result_t<decltype(s.read_pooled())>, result<pooled_buffer>>;
};

/// A read buffer in front of a stream. Each operation reads from the
/// stream only when the buffer does not already hold what it needs, so a
/// line protocol costs one read per batch of lines, not per line.
///
/// Views returned by read_until, read_line and buffered() point into the
/// buffer and stay valid until the next operation on the reader (or
/// consume()). A line (record) can be at most capacity() bytes; a larger
/// limit is capped there. Nothing read is ever dropped: after
/// errc::limit_exceeded, errc::unexpected_eof or an I/O error, what was
/// received is still in buffered() (followed, in pooled mode, by what
/// the reader holds beyond it, which buffered() shows once the bytes
/// before it are consumed).
///
/// Pooled mode: over a pooled_readable_stream (tcp_stream, read_half),
/// unless the caller lends storage, the reader reads with read_pooled and
/// holds no buffer while it waits for data. Lines, records and bytes are
/// served straight out of the pooled buffer (16 KiB at most per read; no
/// copy) while they lie whole in it, and the buffer goes back to the
/// runtime at the start of the operation after the one that consumed its
/// last byte. Only bytes that must be kept across a refill (the start of a
/// record that the next read completes, a peek for more) are copied, into
/// storage of the reader's own of capacity() bytes, taken at that first
/// need: up to 16 KiB, a block of the runtime's per-thread receive pool,
/// given back as soon as it is emptied again; above 16 KiB, memory
/// allocated then and kept until the reader is destroyed. capacity() is
/// therefore only the longest record, not memory held per connection.
///
/// One operation at a time (as on the stream below). Once warm, no
/// operation allocates: the buffer is allocated once (by the constructor,
/// or in pooled mode taken from the runtime's pools, which recycle), and
/// each operation's frame comes from the worker's frame cache.
template <readable_stream Stream>
class buffered_reader {
 public:
  /// A reader over `s` (which must outlive it) for lines and records of up
  /// to `capacity` bytes (at least 1). Over a pooled_readable_stream it
  /// reads in pooled mode and allocates nothing here; otherwise its buffer
  /// of `capacity` bytes is allocated here.
  explicit buffered_reader(Stream& s, std::size_t capacity = 8192)
      : stream_(&s), capacity_(std::max<std::size_t>(capacity, 1)) {
    if constexpr (pooled_readable_stream<Stream>) {
      at_ = where::none;
    } else {
      owned_ = std::make_unique_for_overwrite<std::byte[]>(capacity_);
      buf_ = std::span<std::byte>(owned_.get(), capacity_);
    }
  }
  /// A reader over `s` using the caller's `storage` (which must outlive it;
  /// not empty) as its buffer: allocates nothing, and reads into `storage`
  /// with the stream's read (never in pooled mode).
  buffered_reader(Stream& s, std::span<std::byte> storage) noexcept
      : stream_(&s), buf_(storage), capacity_(storage.size()) {}

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
  /// Drops the first `n` buffered bytes (at most buffered().size()). In
  /// pooled mode a buffer emptied so goes back at once.
  void consume(std::size_t n) noexcept {
    advance(n);
    settle();
  }
  /// The longest line or record the reader can hold (in plain mode also
  /// the size of its buffer).
  std::size_t capacity() const noexcept { return capacity_; }
  /// Whether the reader reads with read_pooled (see the class comment).
  bool pooled() const noexcept { return at_ != where::plain; }
  /// The bytes of buffer memory the reader holds now: its own buffer or
  /// storage (not the caller's) and, in pooled mode, the pooled buffer
  /// (16 KiB) it serves from. In pooled mode 0 while it waits for data with
  /// nothing buffered (capacity() up to 16 KiB: also once it was emptied).
  std::size_t memory_held() const noexcept {
    std::size_t n = owned_ ? capacity_ : 0;
    if (!rx_.empty()) n += corio::detail::pooled_buffer_size;
    if (!spare_.empty()) n += corio::detail::pooled_buffer_size;
    return n;
  }
  /// The stream below.
  Stream& stream() const noexcept { return *stream_; }

  /// Reads once from the stream into the buffer's free space (moving the
  /// buffered bytes to its front first when that makes room). Resumes with
  /// the count added; 0 means the stream ended. Fails with
  /// errc::limit_exceeded when capacity() bytes are already buffered. In
  /// pooled mode bytes the reader already holds past buffered() are added
  /// first, without a read.
  task<result<std::size_t>> fill() {
    if (begin_ == end_ && holds_more()) {  // pooled: what it holds comes into view
      settle();
      co_return end_ - begin_;
    }
    settle();
    if constexpr (pooled_readable_stream<Stream>) {
      if (at_ != where::plain) {
        if (auto done = before_pooled_read()) co_return *done;
        auto aw = stream_->read_pooled();
        result<pooled_buffer> got = co_await detail::bind_stop(std::move(aw), stop_);
        if (!got) co_return fail(got.error());
        co_return received(std::move(*got));
      }
    }
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
    settle();
    if (n > capacity_) co_return fail(errc::limit_exceeded);
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
    settle();
    const std::size_t limit = std::min(max, capacity_);
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
          advance(n);  // not settle(): the record stays where it is
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
  /// remainder of capacity() bytes or more straight into `out` with the
  /// stream's read, past the buffer). Fails with errc::unexpected_eof if
  /// the stream ends first (the bytes already copied into `out` are
  /// consumed).
  task<result<void>> read_exact(std::span<std::byte> out) {
    settle();
    std::size_t done = take_buffered(out);
    while (done < out.size()) {
      const std::size_t left = out.size() - done;
      result<std::size_t> n;
      if (left >= capacity_) {  // nothing is buffered: take_buffered took it all
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
  /// read from the stream (straight into `out` with the stream's read when
  /// it is at least capacity() bytes). 0 means the stream ended. A
  /// buffered_reader is itself a readable_stream.
  task<result<std::size_t>> read(std::span<std::byte> out) {
    settle();
    if (out.empty()) co_return 0;
    if (end_ == begin_) {
      if (out.size() >= capacity_) {
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
  // Where the buffered bytes lie. plain: in buf_, the reader's buffer or
  // the caller's storage, read into with the stream's read. Pooled mode:
  // none (nothing buffered, no buffer held), rx (in the pooled buffer rx_),
  // own (in own storage: spare_'s block or owned_; rx_ may then hold bytes
  // received after them, from rx_next_ on).
  enum class where : std::uint8_t { plain, none, rx, own };

  // Pooled mode's refill (see fill), before its read_pooled: keeps the
  // start of a record in own storage, makes room there, and ends the fill
  // (nullopt: read) with what rx_ still holds when there is some. Settled:
  // something is buffered, or nothing is held.
  std::optional<result<std::size_t>> before_pooled_read() noexcept {
    if (at_ == where::rx) {
      const std::size_t held = end_ - begin_;
      if (held >= capacity_) return fail(errc::limit_exceeded);
      if (!own_storage()) return fail(std::errc::not_enough_memory);
      std::memcpy(buf_.data(), rx_.bytes().data() + begin_, held);
      rx_.reset();
      begin_ = 0;
      end_ = held;
    }
    if (at_ == where::own) {
      if (end_ == capacity_) {
        if (begin_ == 0) return fail(errc::limit_exceeded);
        compact();
      }
      if (holds_more()) return append_received();
    }
    return std::nullopt;
  }

  // Pooled mode's refill, after its read_pooled: takes `got` and returns
  // the count added to the buffer (0: `got` is empty, the stream ended).
  std::size_t received(pooled_buffer got) noexcept {
    if (got.empty()) return 0;
    rx_ = std::move(got);
    if (at_ == where::none) {  // served from where it lies
      at_ = where::rx;
      buf_ = rx_.bytes();
      begin_ = 0;
      end_ = buf_.size();
      return end_;
    }
    rx_next_ = 0;
    return append_received();
  }

  // Own storage (capacity_ bytes) as the buffer, taken if not held yet;
  // false when out of memory.
  bool own_storage() noexcept {
    if (capacity_ <= corio::detail::pooled_buffer_size) {
      if (spare_.empty()) {
        corio::detail::pooled_block* b = corio::detail::take_pool_block();
        if (!b) return false;
        spare_ = pooled_buffer(b, corio::detail::pooled_buffer_size);
      }
      buf_ = spare_.bytes().first(capacity_);
    } else {
      if (!owned_) {
        owned_.reset(new (std::nothrow) std::byte[capacity_]);
        if (!owned_) return false;
      }
      buf_ = std::span<std::byte>(owned_.get(), capacity_);
    }
    at_ = where::own;
    return true;
  }

  // Own mode: whether rx_ holds received bytes not yet in the buffer.
  bool holds_more() const noexcept { return at_ == where::own && !rx_.empty(); }

  // Own mode, room at the end: moves what fits of rx_'s rest into the
  // buffer (releasing rx_ once all of it is in); returns the count.
  std::size_t append_received() noexcept {
    const auto rest = rx_.bytes().subspan(rx_next_);
    const std::size_t n = std::min(rest.size(), capacity_ - end_);
    std::memcpy(buf_.data() + end_, rest.data(), n);
    end_ += n;
    rx_next_ += n;
    if (rx_next_ == rx_.size()) rx_.reset();
    return n;
  }

  // Consumes `n` buffered bytes; what they are stays where it is until
  // settle().
  void advance(std::size_t n) noexcept {
    begin_ += std::min(n, end_ - begin_);
    if (begin_ == end_ && at_ == where::plain) begin_ = end_ = 0;
  }

  // Pooled mode, at the start of each operation: once everything buffered
  // is consumed, gives the buffer back, and serves from what rx_ still
  // holds.
  void settle() noexcept {
    if (begin_ != end_ || at_ == where::plain || at_ == where::none) return;
    spare_.reset();  // owned_, over 16 KiB, is kept: no allocation per refill
    if (at_ == where::own && !rx_.empty()) {
      at_ = where::rx;
      buf_ = rx_.bytes();
      begin_ = rx_next_;
      end_ = buf_.size();
      return;
    }
    rx_.reset();
    at_ = where::none;
    buf_ = {};
    begin_ = end_ = 0;
  }

  // Moves the unconsumed bytes to the front of the reader's buffer (not in
  // a pooled buffer: before_pooled_read moves those to own storage).
  void compact() noexcept {
    if (begin_ == 0 || (at_ != where::plain && at_ != where::own)) return;
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // Copies buffered bytes into `out` and consumes them; returns the count.
  // Twice at most: in pooled mode, emptying own storage may bring the rest
  // of rx_ into view.
  std::size_t take_buffered(std::span<std::byte> out) noexcept {
    std::size_t done = 0;
    while (done < out.size() && begin_ != end_) {
      const std::size_t n = std::min(out.size() - done, end_ - begin_);
      std::memcpy(out.data() + done, buf_.data() + begin_, n);
      done += n;
      consume(n);
    }
    return done;
  }

  Stream* stream_;
  std::unique_ptr<std::byte[]> owned_;  // plain: the buffer, unless the caller lent one;
                                        // pooled, over 16 KiB: own storage once needed
  pooled_buffer rx_;     // pooled: the last buffer read_pooled gave, while it holds bytes
  pooled_buffer spare_;  // pooled, up to 16 KiB: own storage, while it holds bytes
  std::span<std::byte> buf_;  // where the buffered bytes lie
  std::size_t begin_ = 0;     // first unconsumed byte
  std::size_t end_ = 0;       // one past the last buffered byte
  std::size_t rx_next_ = 0;   // own: the first byte of rx_ not moved into the buffer
  std::size_t capacity_;
  where at_ = where::plain;
  std::stop_token stop_;
};

}  // namespace corio::io
