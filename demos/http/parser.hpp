// demos/http/parser.hpp: a strict, incremental HTTP/1.1 message-head parser
// (requests for http_server, responses for http_get) and a chunked body
// decoder. Standard library only, no allocation: a parser is a fixed-size
// object that keeps offsets into the caller's bytes.
//
// Incremental: parse() is given the message's bytes from its first byte, as
// far as they have arrived (the caller's buffer may have moved in between:
// only offsets are kept). Complete lines are parsed once, as they arrive, so
// any split of the bytes gives the same outcome, and each byte is looked at
// a bounded number of times.
//
// Strict (RFC 9112): lines end in CRLF (a bare LF or CR is an error), one
// SP between the parts of the start line, field names are tokens with no
// space before the colon, no obs-fold, no control characters in values,
// Content-Length is digits only and not repeated with another value, and
// Transfer-Encoding with Content-Length is refused (request smuggling).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace http {

/// Bounds a request head must stay within.
struct limits {
  /// The request line, CRLF included; longer: 414.
  std::size_t request_line = 8192;
  /// The whole head (start line, fields, the empty line); longer: 431.
  std::size_t head = 16384;
  /// Header fields; more: 431.
  std::size_t fields = 64;
};

/// Request methods the server tells apart. Everything else is `other` (a
/// well-formed token the server does not implement: 501).
enum class method : std::uint8_t { get, head, post, put, delete_, options, patch, connect, trace, other };

/// One header field, as views into the message's bytes.
struct field {
  std::string_view name;
  std::string_view value;  // without leading and trailing whitespace
};

/// A parsed message head: views into the bytes given to parse(), valid
/// while those bytes stay where they were in the last call.
struct message {
  // Requests.
  method verb = method::other;
  std::string_view method_name;
  std::string_view target;
  // Responses.
  int status = 0;
  std::string_view reason;
  // Both.
  int version_minor = 1;  // HTTP/1.<minor> (1 for anything above 1)
  std::string_view host;  // the Host field ("" when absent)
  std::string_view range;
  std::string_view if_modified_since;
  std::string_view location;
  std::string_view content_type;
  std::uint64_t content_length = 0;
  bool has_content_length = false;
  bool chunked = false;             // Transfer-Encoding ends in chunked
  bool has_transfer_encoding = false;
  bool keep_alive = true;           // after Connection and the version's default
  std::size_t field_count = 0;
  std::array<field, 64> fields_storage{};  // the first field_count are set

  /// The value of the first field named `name` (any case), or "".
  std::string_view find(std::string_view name) const noexcept;
};

/// What parse() found.
enum class parse_status : std::uint8_t {
  incomplete,  // the head is not complete: give more bytes
  complete,    // the head is complete: head_size() bytes, then the body
  error,       // malformed or over a limit: error_status() says how to answer
};

/// The parser of one message head. reset() it (or make a new one) for the
/// next message.
class head_parser {
 public:
  enum class kind : std::uint8_t { request, response };

  explicit head_parser(kind k = kind::request, limits l = {}) noexcept : kind_(k), limits_(l) {}

  /// Parses `bytes`: the message from its first byte, as far as it has
  /// arrived; each call gives at least the bytes of the previous one (the
  /// same bytes, possibly elsewhere in memory). Returns complete once the
  /// empty line that ends the head is in; error as soon as a complete line
  /// (or a line already over its limit) is wrong. After complete or error,
  /// later calls return the same.
  parse_status parse(std::string_view bytes) noexcept;

  /// After complete: the head's length in bytes (the body, if any, starts
  /// there).
  std::size_t head_size() const noexcept { return pos_; }
  /// After complete: the head, as views into `bytes` (the same bytes as the
  /// last parse() was given, at the same place).
  const message& get(std::string_view bytes) noexcept;

  /// After error: the status to answer with (400, 414, 431, 505) and why,
  /// in a few words for the response body.
  int error_status() const noexcept { return error_status_; }
  std::string_view error_reason() const noexcept { return error_reason_; }

  /// Ready for the next message, with the same kind and limits.
  void reset() noexcept;

 private:
  struct span {
    std::uint32_t off = 0;
    std::uint32_t len = 0;
  };
  parse_status fail(int status, std::string_view why) noexcept;
  parse_status start_line(std::string_view line, std::size_t off) noexcept;
  parse_status request_line(std::string_view line, std::size_t off) noexcept;
  parse_status status_line(std::string_view line, std::size_t off) noexcept;
  parse_status field_line(std::string_view line, std::size_t off) noexcept;
  parse_status finish() noexcept;

  kind kind_;
  limits limits_;
  parse_status state_ = parse_status::incomplete;
  bool started_ = false;       // the start line is parsed
  std::size_t pos_ = 0;        // start of the first line not parsed yet
  std::size_t scanned_ = 0;    // bytes from pos_ already searched for LF
  std::size_t empty_lines_ = 0;  // empty lines before a request line (ignored, bounded)
  int error_status_ = 0;
  std::string_view error_reason_;
  // Offsets of what message holds as views.
  span method_, target_, reason_;
  std::array<span, 64> names_{}, values_{};
  span host_, range_, ims_, location_, content_type_;
  bool connection_close_ = false, connection_keep_alive_ = false;
  message msg_;
};

/// Decodes a chunked body (RFC 9112 section 7.1): chunk sizes in hex,
/// extensions and trailer fields skipped, strictly CRLF. Incremental: any
/// split of the input gives the same bytes.
class chunked_decoder {
 public:
  enum class status : std::uint8_t { more, done, error };
  /// One step: `consumed` bytes of the input were used; `data` (a view into
  /// the input, possibly empty) is body to deliver; `st` says whether the
  /// body has ended (done: consumed stops right after the final CRLF) or is
  /// malformed.
  struct step {
    std::size_t consumed = 0;
    std::string_view data;
    status st = status::more;
  };
  /// Decodes from `in` until it has body bytes to return, the input is used
  /// up, the body ends, or an error. Call again with the rest.
  step decode(std::string_view in) noexcept;
  bool done() const noexcept { return state_ == state::done; }

 private:
  enum class state : std::uint8_t {
    size, size_ext, size_lf, data, data_cr, data_lf, trailer_start, trailer, trailer_lf, final_lf,
    done, error
  };
  state state_ = state::size;
  std::uint64_t remaining_ = 0;
  bool digits_ = false;
};

/// True when `c` may appear in a token (method, field name).
bool is_tchar(char c) noexcept;
/// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b) noexcept;
/// Parses a decimal number of 1 to 18 digits and nothing else.
bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept;

}  // namespace http
