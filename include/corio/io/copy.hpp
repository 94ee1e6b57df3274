// corio/io/copy.hpp: moving a stream's bytes to another stream, one way
// (copy) or both ways with half-close (copy_bidirectional): a whole TCP
// proxy is one call.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stop_token>
#include <system_error>
#include <type_traits>

#include "corio/io/buffered_reader.hpp"
#include "corio/io/stream.hpp"
#include "corio/result.hpp"
#include "corio/task.hpp"
#include "corio/when.hpp"

namespace corio::io {

/// The buffer size copy() uses when the reader has none of its own.
inline constexpr std::size_t copy_buffer_size = 16 * 1024;

namespace detail {
template <class R>
inline constexpr bool is_buffered_reader = false;
template <class S>
inline constexpr bool is_buffered_reader<buffered_reader<S>> = true;
}  // namespace detail

/// Copies everything `from` yields to `to` until `from` ends (a read of 0
/// bytes), one read then one write_all at a time. Resumes with the count
/// copied, or the first error of either side; a stop on `stop` ends it
/// with std::errc::operation_canceled (cancelling the operation in flight
/// where the streams' operations are corio operations). Does not shut down
/// `to`. `*progress`, when given, is raised as bytes are written (it counts
/// them even when the copy then fails).
///
/// A buffered_reader is copied from its buffer (what it had buffered
/// comes first); any other reader through one buffer of copy_buffer_size
/// bytes, allocated once per call.
template <readable_stream R, writable_stream W>
task<result<std::uint64_t>> copy(R& from, W& to, std::stop_token stop = {},
                                 std::uint64_t* progress = nullptr) {
  std::uint64_t total = 0;
  // One write_all of `data`, bound to `stop`.
  auto write = [&to, &stop](std::span<const std::byte> data) -> task<result<void>> {
    auto aw = to.write_all(data);
    if (detail::stop_checked<decltype(aw)>(stop)) co_return fail(std::errc::operation_canceled);
    co_return co_await detail::bind_stop(std::move(aw), stop);
  };
  if constexpr (detail::is_buffered_reader<R>) {
    // The reader's own buffer: no second buffer, no copy between them.
    if (stop.stop_requested()) co_return fail(std::errc::operation_canceled);
    from.set_stop_token(stop);
    for (;;) {
      if (from.buffered().empty()) {
        auto n = co_await from.fill();
        if (!n) co_return fail(n.error());
        if (*n == 0) co_return total;
      }
      const auto data = from.buffered();
      if (auto ok = co_await write(data); !ok) co_return fail(ok.error());
      from.consume(data.size());
      total += data.size();
      if (progress) *progress += data.size();
    }
  } else {
    auto buf = std::make_unique_for_overwrite<std::byte[]>(copy_buffer_size);
    const std::span<std::byte> space(buf.get(), copy_buffer_size);
    for (;;) {
      auto rd = from.read(space);
      if (detail::stop_checked<decltype(rd)>(stop)) co_return fail(std::errc::operation_canceled);
      auto n = co_await detail::bind_stop(std::move(rd), stop);
      if (!n) co_return fail(n.error());
      if (*n == 0) co_return total;
      if (auto ok = co_await write(space.first(*n)); !ok) co_return fail(ok.error());
      total += *n;
      if (progress) *progress += *n;
    }
  }
}

/// Bytes moved by copy_bidirectional, per direction.
struct copy_totals {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
};

/// A stream that copy_bidirectional can use: read, write, and shut down
/// its sending side.
template <class S>
concept duplex_stream = readable_stream<S> && half_closable<S>;

/// Copies `a` to `b` and `b` to `a` at once, until both directions have
/// ended. When one side's stream ends, the other side's sending direction
/// is shut down (half-close: the peer reads its end and may still answer).
/// Resumes with the bytes moved each way once both are done, or with the
/// first error of either direction, after stopping and joining the other.
/// A stop on `stop` cancels both (std::errc::operation_canceled).
/// `*progress`, when given, is raised as bytes are written, and keeps the
/// counts of a copy that failed. Closes nothing: the caller owns `a` and
/// `b`. Allocates per call (two copy buffers, the two directions' frames),
/// never per byte moved.
template <duplex_stream A, duplex_stream B>
task<result<copy_totals>> copy_bidirectional(A& a, B& b, std::stop_token stop = {},
                                             copy_totals* progress = nullptr) {
  struct shared_state {
    std::stop_source both;
    std::atomic<bool> failed{false};
    std::error_code error;  // written by the direction that set `failed`
  } st;
  std::stop_callback forward(stop, [&st] { st.both.request_stop(); });
  copy_totals local;
  copy_totals& totals = progress ? *progress : local;

  // Parameters, not captures: a coroutine lambda's captures die with the
  // lambda object, its parameters live in its frame.
  auto one_way = []<class From, class To>(From& from, To& to, std::uint64_t& count,
                                          shared_state& shared) -> task<void> {
    auto copied = co_await copy(from, to, shared.both.get_token(), &count);
    result<void> done;
    if (!copied) {
      done = fail(copied.error());
    } else if constexpr (shuts_down_at_once<To>) {
      done = to.shutdown();
    } else {
      done = co_await to.shutdown();  // tls::stream: close_notify
    }
    if (!done && !shared.failed.exchange(true, std::memory_order_acq_rel)) {
      shared.error = done.error();
      shared.both.request_stop();
    }
  };
  co_await when_all(one_way(a, b, totals.a_to_b, st), one_way(b, a, totals.b_to_a, st));
  if (st.failed.load(std::memory_order_acquire)) co_return fail(st.error);
  co_return totals;
}

}  // namespace corio::io
