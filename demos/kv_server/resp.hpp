// demos/kv_server/resp.hpp: the RESP2 request parser and the reply encoders.
//
// A Redis server reads into a query buffer and parses requests out of it
// (networking.c, processInlineBuffer / processMultibulkBuffer); so does this
// one. A request is either a multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or
// an inline line ("GET k\r\n", split like sdssplitargs, quotes and all).
// The parser never copies a multibulk argument: the views point into the
// caller's buffer. It keeps no state between calls; a caller that gets
// `incomplete` waits for at least `need` bytes before calling again, so a
// large bulk that arrives in many reads is parsed once, not once per read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

/// Redis's limits (PROTO_INLINE_MAX_SIZE, proto-max-bulk-len, and the
/// multibulk count limit): past them a request is a protocol error.
inline constexpr std::size_t max_inline_size = 64 * 1024;
inline constexpr std::int64_t max_bulk_len = 512LL * 1024 * 1024;
inline constexpr std::int64_t max_multibulk_len = 0x7fffffff;

/// What parse() found at the front of the buffer.
enum class parse_status {
  incomplete,  ///< not a whole request yet: read at least `need` bytes in all
  request,     ///< a whole request: `args` (possibly empty: skip it), `consumed` bytes
  error,       ///< a protocol error: reply "-ERR Protocol error: <error>" and close
};

struct parse_result {
  parse_status status = parse_status::incomplete;
  /// Bytes the request took (status request).
  std::size_t consumed = 0;
  /// The least number of buffered bytes worth calling parse() with again
  /// (status incomplete); always more than the buffer held.
  std::size_t need = 0;
  /// Redis's text for the protocol error (status error), e.g. "invalid bulk length".
  std::string_view error;
};

/// Parses one request at a time from a query buffer. Reusable: its
/// argument vector and inline scratch space keep their capacity.
class request_parser {
 public:
  /// Parses the request at the front of `in`. On `request`, args() holds
  /// views into `in` (multibulk) or into this parser (inline); they stay
  /// valid until the next parse() or until `in` changes.
  parse_result parse(std::string_view in);
  /// The arguments of the request parse() last returned.
  const std::vector<std::string_view>& args() const noexcept { return args_; }

 private:
  parse_result parse_multibulk(std::string_view in);
  parse_result parse_inline(std::string_view in);
  std::vector<std::string_view> args_;
  std::string scratch_;     // inline arguments after unquoting
  std::string error_text_;  // an error that quotes the input
};

/// Splits an inline line like Redis's sdssplitargs: blanks separate
/// arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes;
/// 'single quotes' take \'; a closing quote must be followed by a blank.
/// Returns false for unbalanced quotes. `out` views point into `scratch`,
/// which it may grow (reserve line.size() first: views must not move).
bool split_inline(std::string_view line, std::string& scratch, std::vector<std::string_view>& out);

/// Parses a decimal like Redis's string2ll: optional '-', no '+', no
/// blanks, no leading zeros, within int64. False otherwise.
bool parse_int64(std::string_view s, std::int64_t& out) noexcept;

/// Reply encoders: each appends one RESP2 value to `out`.
namespace reply {
void simple(std::string& out, std::string_view s);  ///< +s\r\n
void error(std::string& out, std::string_view s);   ///< -s\r\n (s holds the "ERR " prefix)
void integer(std::string& out, std::int64_t v);     ///< :v\r\n
void bulk(std::string& out, std::string_view s);    ///< $len\r\ns\r\n
void null(std::string& out);                        ///< $-1\r\n
void array(std::string& out, std::size_t n);        ///< *n\r\n
void ok(std::string& out);                          ///< +OK\r\n
}  // namespace reply

}  // namespace kv
