// corio/fs/send_file.hpp: sending part of a file to a stream, zero-copy
// where the OS can.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <type_traits>

#include "corio/detail/socket.hpp"
#include "corio/fs/file.hpp"
#include "corio/io/stream.hpp"
#include "corio/net/tcp_stream.hpp"
#include "corio/task.hpp"

namespace corio::fs {

/// The buffer size of send_file's copy loop (streams that are not TCP).
inline constexpr std::size_t send_file_buffer_size = 64 * 1024;

namespace detail {

/// The steps of a zero-copy send_file (driven by stepped_awaiter): each
/// step is one op_code::send_file of what is left (sendfile(2) on Linux,
/// TransmitFile on Windows), advanced by what the kernel sent.
struct send_file_steps {
  corio::detail::file_request req;
  std::uint64_t* progress = nullptr;

  void prepare(corio::detail::operation& op, corio::detail::native_file h, std::uint64_t offset,
               std::uint64_t count) noexcept {
    op.code = corio::detail::op_code::send_file;
    req.handle = h;
    req.offset = offset;
    req.size = count;
  }
  bool next(corio::detail::operation& op) noexcept {
    if (req.size == 0) return false;
    // Set per step, not once: the awaiter may have moved before it started.
    op.args.file = &req;
    return true;
  }
  void advance(corio::detail::operation&, std::size_t n) noexcept {
    req.offset += n;
    req.size -= n;
    if (progress) *progress += n;
  }
};

/// send_file's awaiter over a TCP stream: an operation awaiter, so
/// with_stop, with_timeout and when_any take it and cancel the step in
/// flight in the kernel. Holds the stream's writing direction for the whole
/// transfer (a concurrent write fails with errc::concurrent_operation).
class [[nodiscard("a send_file does nothing until it is co_awaited")]] send_file_awaiter
    : public corio::detail::op_awaiter_base<send_file_awaiter> {
 public:
  send_file_awaiter(corio::detail::socket_core* s, corio::detail::native_file h,
                    std::uint64_t offset, std::uint64_t count, std::uint64_t* progress) noexcept
      : inner_(s, send_file_steps{{}, progress}, h, offset, count), not_open_(h == corio::detail::invalid_file) {}

  corio::detail::operation& op() noexcept { return inner_.op(); }
  bool start() noexcept {
    if (not_open_) return false;
    return inner_.start();
  }
  result<std::uint64_t> await_resume() noexcept {
    if (not_open_) return fail(errc::not_open);
    if (auto r = inner_.await_resume(); !r) return fail(r.error());
    return static_cast<std::uint64_t>(inner_.transferred());
  }

 private:
  corio::detail::stepped_awaiter<true, send_file_steps> inner_;
  bool not_open_;
};

/// The copy loop: read_at into one buffer, write_all to the stream.
template <io::writable_stream S>
task<result<std::uint64_t>> send_file_copy_loop(S& s, file& f, std::uint64_t offset,
                                                std::uint64_t count, std::stop_token stop,
                                                std::uint64_t* progress) {
  if (!f.is_open()) co_return fail(errc::not_open);
  std::uint64_t sent = 0;
  if (count == 0) co_return sent;
  const std::size_t size =
      count < send_file_buffer_size ? static_cast<std::size_t>(count) : send_file_buffer_size;
  auto buf = std::make_unique_for_overwrite<std::byte[]>(size);
  while (sent < count) {
    const std::uint64_t left = count - sent;
    const std::span<std::byte> space(buf.get(), left < size ? static_cast<std::size_t>(left) : size);
    auto rd = f.read_at(offset + sent, space);
    auto n = co_await corio::with_stop(std::move(rd), stop);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return fail(errc::unexpected_eof);
    auto wr = s.write_all(std::span<const std::byte>(space.first(*n)));
    if (io::detail::stop_checked<decltype(wr)>(stop)) co_return fail(std::errc::operation_canceled);
    if (auto ok = co_await io::detail::bind_stop(std::move(wr), stop); !ok) co_return fail(ok.error());
    sent += *n;
    if (progress) *progress += *n;
  }
  co_return sent;
}

/// send_file's awaitable over a stream that is not TCP (TLS, a buffered
/// writer): awaitable as it is, and a task factory, so that with_stop and
/// with_timeout end it (cancelling the read or write in flight where that
/// is a corio operation).
template <io::writable_stream S>
class [[nodiscard("a send_file does nothing until it is co_awaited")]] send_file_copy {
 public:
  send_file_copy(S& s, file& f, std::uint64_t offset, std::uint64_t count,
                 std::uint64_t* progress) noexcept
      : s_(&s), f_(&f), offset_(offset), count_(count), progress_(progress) {}

  /// The transfer, obeying `stop` (a task factory: with_stop, with_timeout).
  task<result<std::uint64_t>> operator()(std::stop_token stop) const {
    return send_file_copy_loop(*s_, *f_, offset_, count_, std::move(stop), progress_);
  }
  auto operator co_await() & { return start_task(); }
  auto operator co_await() && { return start_task(); }

 private:
  auto start_task() {
    task_ = (*this)(std::stop_token{});
    return std::move(task_).operator co_await();
  }

  S* s_;
  file* f_;
  std::uint64_t offset_;
  std::uint64_t count_;
  std::uint64_t* progress_;
  task<result<std::uint64_t>> task_;
};

template <class S>
inline constexpr bool is_tcp_stream_v =
    std::is_same_v<S, net::tcp_stream> || std::is_same_v<S, net::write_half>;

}  // namespace detail

/// Sends `count` bytes of `f`, from `offset`, to the stream `s`, in order.
/// Resumes with the count sent (== count), or the first error:
/// errc::unexpected_eof when the file ends before `count` bytes (what was
/// there has been sent), errc::not_open for a closed file or stream, the
/// stream's own errors (std::errc::broken_pipe, connection_reset).
///
/// net::tcp_stream and net::write_half: zero-copy (io_uring: a POLLOUT poll
/// then a non-blocking sendfile(2); epoll: sendfile(2) when the socket is
/// writable; IOCP: TransmitFile), partial transfers resumed, holding the
/// stream's writing direction throughout; allocates nothing. Any other
/// io::writable_stream (tls::stream, io::buffered_writer, net::unix_stream):
/// a copy loop through one buffer of send_file_buffer_size bytes
/// (allocated per call).
///
/// Cancellable: `with_stop(send_file(...), token)` and `with_timeout(...)`
/// end it with std::errc::operation_canceled / errc::timed_out. How much
/// went out before that is in `*progress` when given (raised as the bytes
/// are sent, also when the transfer then fails). After a cancelled or
/// failed transfer the stream is consistent (no byte is sent twice or out
/// of order) but the peer has a prefix of the range: a protocol that framed
/// it with a length (HTTP's Content-Length) must close the connection.
template <class Stream>
[[nodiscard]] auto send_file(Stream& s, file& f, std::uint64_t offset, std::uint64_t count,
                             std::uint64_t* progress = nullptr) {
  if constexpr (detail::is_tcp_stream_v<Stream>) {
    return detail::send_file_awaiter(s.core(), f.native_handle(), offset, count, progress);
  } else {
    static_assert(io::writable_stream<Stream>, "send_file needs a stream with write_all");
    return detail::send_file_copy<Stream>(s, f, offset, count, progress);
  }
}

}  // namespace corio::fs
