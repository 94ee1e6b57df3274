// demos/http/util.hpp: the small pieces of HTTP a server and a client share:
// reason phrases, dates (IMF-fixdate), media types by extension, byte
// ranges, request-target paths and URLs. Standard library only; nothing
// here allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string_view>

namespace http {

/// The reason phrase of a status code ("Not Found"), "Unknown" for others.
std::string_view reason_phrase(int status) noexcept;

/// Length of an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t date_size = 29;
/// Writes `t` (seconds since the epoch, UTC) as an IMF-fixdate into `out`.
void format_date(std::time_t t, std::span<char, date_size> out) noexcept;
/// Parses an IMF-fixdate (the only form a server must send; the obsolete
/// RFC 850 and asctime forms are not accepted: the field is then ignored,
/// as RFC 9110 13.1.3 allows for an invalid date).
std::optional<std::time_t> parse_date(std::string_view s) noexcept;
/// The current time as an IMF-fixdate, formatted at most once a second per
/// thread; the view stays valid on this thread until the next call.
std::string_view date_now() noexcept;

/// The media type for a file name's extension (case-insensitive);
/// application/octet-stream when unknown.
std::string_view media_type(std::string_view path) noexcept;

/// A Range field against a representation of `size` bytes.
struct byte_range {
  enum class kind : std::uint8_t {
    none,           // no usable range: serve the whole (absent, not bytes=, several ranges, malformed)
    satisfiable,    // serve [first, last]
    unsatisfiable,  // 416
  };
  kind k = kind::none;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};
/// Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range; a list of
/// several is ignored, which RFC 9110 14.2 allows).
byte_range parse_range(std::string_view value, std::uint64_t size) noexcept;

/// What decode_path found wrong with a request target.
enum class path_error : std::uint8_t {
  none,
  not_origin_form,  // does not start with '/'
  bad_escape,       // % not followed by two hex digits
  nul,              // %00
  backslash,        // '\' (raw or encoded): a separator on Windows
  traversal,        // a ".." segment (raw or encoded)
  too_long,         // does not fit the output
};
/// A short sentence for `e`, for a 400 body.
std::string_view describe(path_error e) noexcept;

/// Decodes the path of an origin-form target ("/a%20b/c?x=1" -> "/a b/c")
/// into `out`, refusing what could leave the document root or name a file
/// in a surprising way. On success `length` is the decoded size.
path_error decode_path(std::string_view target, std::span<char> out, std::size_t& length) noexcept;

/// A URL of the form http://host[:port][/path][?query].
struct url {
  std::string_view scheme;  // "http" or "https"
  std::string_view host;    // without brackets for IPv6
  std::uint16_t port = 0;
  std::string_view target;  // "/path?query", "/" when absent
  std::string_view authority;  // host[:port] as written, for the Host field
};
/// Parses `s` (views into it); nothing when it is not such a URL.
std::optional<url> parse_url(std::string_view s) noexcept;

}  // namespace http
