// corio/result.hpp: the result type of every I/O call, and corio's own error codes.
#pragma once

#include <expected>
#include <system_error>

namespace corio {

/// The value of an operation, or why it failed. Every I/O call returns one;
/// no I/O path throws.
template <class T>
using result = std::expected<T, std::error_code>;

/// Errors that corio itself reports (the OS's own errors use the generic or
/// system category). Each compares equal to the nearest std::errc where one
/// exists, so `ec == std::errc::timed_out` works for `errc::timed_out`.
enum class errc {
  /// A second read (or write) was started on a stream half while one is in
  /// flight. It never reached the kernel (lesson 1).
  concurrent_operation = 1,
  /// A with_timeout deadline passed before the operation finished.
  timed_out,
  /// An endpoint string could not be parsed.
  invalid_endpoint,
  /// The object (stream, listener, channel) was closed or never opened.
  not_open,
  /// A read_exact found the end of the stream before the buffer was full.
  unexpected_eof,
  /// A buffered read (read_until, read_line) found no delimiter within its
  /// limit. What was read stays buffered (corio/io/buffered_reader.hpp).
  limit_exceeded,
  /// A buffered read_until / read_line found the stream's orderly end with
  /// nothing buffered: the peer closed between two messages.
  end_of_stream,
  /// The runtime is shutting down: a task handed to it was not started, or
  /// was given up on (compares equal to std::errc::operation_canceled).
  shut_down,
};

/// The category of corio::errc.
const std::error_category& corio_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), corio_category()};
}

/// Shorthand for an unexpected result holding `e`.
inline std::unexpected<std::error_code> fail(std::error_code e) noexcept {
  return std::unexpected(e);
}
inline std::unexpected<std::error_code> fail(errc e) noexcept {
  return std::unexpected(make_error_code(e));
}
inline std::unexpected<std::error_code> fail(std::errc e) noexcept {
  return std::unexpected(std::make_error_code(e));
}

}  // namespace corio

template <>
struct std::is_error_code_enum<corio::errc> : std::true_type {};
