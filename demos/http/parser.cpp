// demos/http/parser.cpp
#include "http/parser.hpp"

#include <algorithm>
#include <cstring>

namespace http {

namespace {

constexpr std::size_t max_empty_lines = 8;

// RFC 9110 token characters.
constexpr std::array<bool, 256> make_tchar() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto tchar_table = make_tchar();

// A field value's characters: HTAB, SP, VCHAR, obs-text (no CR, LF, NUL, DEL).
constexpr std::array<bool, 256> make_value_chars() {
  std::array<bool, 256> t{};
  t['\t'] = true;
  for (int c = 0x20; c < 0x7f; ++c) t[c] = true;
  for (int c = 0x80; c < 0x100; ++c) t[c] = true;
  return t;
}
constexpr auto value_table = make_value_chars();

bool all_of(std::string_view s, const std::array<bool, 256>& table) noexcept {
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return table[static_cast<unsigned char>(c)]; });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

method classify(std::string_view m) noexcept {
  // Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
  if (m == "GET") return method::get;
  if (m == "HEAD") return method::head;
  if (m == "POST") return method::post;
  if (m == "PUT") return method::put;
  if (m == "DELETE") return method::delete_;
  if (m == "OPTIONS") return method::options;
  if (m == "PATCH") return method::patch;
  if (m == "CONNECT") return method::connect;
  if (m == "TRACE") return method::trace;
  return method::other;
}

// "HTTP/d.d": the major and minor digits, or false.
bool parse_version(std::string_view v, int& major, int& minor) noexcept {
  if (v.size() != 8 || !v.starts_with("HTTP/") || v[6] != '.') return false;
  if (v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return false;
  major = v[5] - '0';
  minor = v[7] - '0';
  return true;
}

}  // namespace

bool is_tchar(char c) noexcept { return tchar_table[static_cast<unsigned char>(c)]; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

std::string_view message::find(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < field_count; ++i)
    if (iequals(fields_storage[i].name, name)) return fields_storage[i].value;
  return {};
}

void head_parser::reset() noexcept {
  // Field by field: the field arrays (3 KiB) need no clearing, field_count
  // says how many are set.
  state_ = parse_status::incomplete;
  started_ = false;
  pos_ = scanned_ = empty_lines_ = 0;
  error_status_ = 0;
  error_reason_ = {};
  method_ = target_ = reason_ = span{};
  host_ = range_ = ims_ = location_ = content_type_ = span{};
  connection_close_ = connection_keep_alive_ = false;
  msg_.verb = method::other;
  msg_.status = 0;
  msg_.version_minor = 1;
  msg_.content_length = 0;
  msg_.has_content_length = msg_.chunked = msg_.has_transfer_encoding = false;
  msg_.keep_alive = true;
  msg_.field_count = 0;
}

parse_status head_parser::fail(int status, std::string_view why) noexcept {
  error_status_ = status;
  error_reason_ = why;
  state_ = parse_status::error;
  return state_;
}

parse_status head_parser::parse(std::string_view bytes) noexcept {
  if (state_ != parse_status::incomplete) return state_;
  const bool request = kind_ == kind::request;
  for (;;) {
    const std::size_t from = pos_ + scanned_;
    const void* lf = from < bytes.size()
                         ? std::memchr(bytes.data() + from, '\n', bytes.size() - from)
                         : nullptr;
    if (lf == nullptr) {
      // The line is not complete. Refuse it now if it is already over a
      // limit (the same answer the complete line would get: see below).
      scanned_ = bytes.size() - pos_;
      if (!started_ && bytes.size() - pos_ >= limits_.request_line)
        return fail(request ? 414 : 400, request ? "request line too long" : "status line too long");
      if (bytes.size() >= limits_.head) return fail(431, "request header fields too large");
      return parse_status::incomplete;
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - bytes.data());
    // Limits first, so a split line (refused above before its LF came) and
    // a whole one get the same answer.
    if (!started_ && end + 1 - pos_ > limits_.request_line)
      return fail(request ? 414 : 400, request ? "request line too long" : "status line too long");
    if (end + 1 > limits_.head) return fail(431, "request header fields too large");
    if (end == pos_ || bytes[end - 1] != '\r') return fail(400, "line ends in a bare LF");
    const std::size_t off = pos_;
    const std::string_view line = bytes.substr(off, end - 1 - off);
    pos_ = end + 1;
    scanned_ = 0;
    if (!started_) {
      if (line.empty() && request) {
        // RFC 9112 2.2: empty lines before a request line are ignored.
        if (++empty_lines_ > max_empty_lines) return fail(400, "empty lines instead of a request");
        continue;
      }
      if (start_line(line, off) == parse_status::error) return state_;
      started_ = true;
      continue;
    }
    if (line.empty()) return finish();
    if (field_line(line, off) == parse_status::error) return state_;
  }
}

parse_status head_parser::start_line(std::string_view line, std::size_t off) noexcept {
  return kind_ == kind::request ? request_line(line, off) : status_line(line, off);
}

parse_status head_parser::request_line(std::string_view line, std::size_t off) noexcept {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return fail(400, "malformed request line");
  const std::string_view name = line.substr(0, sp1);
  if (!all_of(name, tchar_table)) return fail(400, "malformed method");
  const std::string_view rest = line.substr(sp1 + 1);
  const std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) {
    // "GET /path" and nothing more: an HTTP/0.9 request.
    if (!rest.empty() && rest.front() == '/') return fail(400, "HTTP/0.9 is not supported");
    return fail(400, "malformed request line");
  }
  const std::string_view target = rest.substr(0, sp2);
  const std::string_view version = rest.substr(sp2 + 1);
  if (target.empty()) return fail(400, "empty request target");
  for (char c : target)
    if (c < 0x21 || c > 0x7e) return fail(400, "invalid character in request target");
  int major = 0, minor = 0;
  if (!parse_version(version, major, minor)) return fail(400, "malformed HTTP version");
  if (major == 2 && minor == 0 && name == "PRI" && target == "*")
    return fail(505, "HTTP/2 (prior knowledge) is not supported; use HTTP/1.1");
  if (major != 1) return fail(505, "HTTP version not supported; use HTTP/1.1");
  method_ = {static_cast<std::uint32_t>(off), static_cast<std::uint32_t>(sp1)};
  target_ = {static_cast<std::uint32_t>(off + sp1 + 1), static_cast<std::uint32_t>(sp2)};
  msg_.verb = classify(name);
  msg_.version_minor = minor == 0 ? 0 : 1;
  return parse_status::incomplete;
}

parse_status head_parser::status_line(std::string_view line, std::size_t off) noexcept {
  int major = 0, minor = 0;
  if (line.size() < 12 || !parse_version(line.substr(0, 8), major, minor) || major != 1 ||
      line[8] != ' ')
    return fail(400, "malformed status line");
  int code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return fail(400, "malformed status code");
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100) return fail(400, "malformed status code");
  if (line.size() > 12 && line[12] != ' ') return fail(400, "malformed status line");
  const std::string_view why = line.size() > 13 ? line.substr(13) : std::string_view();
  if (!all_of(why, value_table)) return fail(400, "invalid character in reason phrase");
  msg_.status = code;
  msg_.version_minor = minor == 0 ? 0 : 1;
  reason_ = {static_cast<std::uint32_t>(off + 13), static_cast<std::uint32_t>(why.size())};
  return parse_status::incomplete;
}

parse_status head_parser::field_line(std::string_view line, std::size_t off) noexcept {
  if (line.front() == ' ' || line.front() == '\t')
    return fail(400, "obsolete line folding is not accepted");
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header field");
  const std::string_view name = line.substr(0, colon);
  if (!all_of(name, tchar_table)) return fail(400, "malformed header field name");
  const std::string_view raw = line.substr(colon + 1);
  if (!all_of(raw, value_table)) return fail(400, "invalid character in header field value");
  const std::string_view value = trim(raw);
  const std::size_t max_fields = std::min(limits_.fields, names_.size());
  if (msg_.field_count == max_fields) return fail(431, "too many header fields");
  const auto at = [&](std::string_view part) {
    return span{static_cast<std::uint32_t>(off + static_cast<std::size_t>(part.data() - line.data())),
                static_cast<std::uint32_t>(part.size())};
  };
  names_[msg_.field_count] = at(name);
  values_[msg_.field_count] = at(value);
  ++msg_.field_count;

  if (iequals(name, "host")) {
    // Fields never start at offset 0 (the start line is there): off != 0
    // means seen, even for an empty Host.
    if (host_.off != 0) return fail(400, "more than one Host field");
    host_ = at(value);
  } else if (iequals(name, "content-length")) {
    std::uint64_t n = 0;
    if (!parse_decimal(value, n)) return fail(400, "malformed Content-Length");
    if (msg_.has_content_length && msg_.content_length != n)
      return fail(400, "conflicting Content-Length fields");
    msg_.has_content_length = true;
    msg_.content_length = n;
  } else if (iequals(name, "transfer-encoding")) {
    msg_.has_transfer_encoding = true;
    // The last coding decides whether the body is chunked.
    const std::size_t comma = value.rfind(',');
    msg_.chunked = iequals(trim(comma == std::string_view::npos ? value : value.substr(comma + 1)),
                           "chunked");
  } else if (iequals(name, "connection")) {
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view token = trim(rest.substr(0, comma));
      if (iequals(token, "close")) connection_close_ = true;
      if (iequals(token, "keep-alive")) connection_keep_alive_ = true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  } else if (iequals(name, "range")) {
    range_ = at(value);
  } else if (iequals(name, "if-modified-since")) {
    ims_ = at(value);
  } else if (iequals(name, "location")) {
    location_ = at(value);
  } else if (iequals(name, "content-type")) {
    content_type_ = at(value);
  }
  return parse_status::incomplete;
}

parse_status head_parser::finish() noexcept {
  if (msg_.has_transfer_encoding && msg_.has_content_length)
    return fail(400, "both Transfer-Encoding and Content-Length");
  if (kind_ == kind::request && msg_.version_minor == 1 && host_.off == 0)
    return fail(400, "HTTP/1.1 request without Host");
  msg_.keep_alive = msg_.version_minor == 1 ? !connection_close_
                                            : connection_keep_alive_ && !connection_close_;
  state_ = parse_status::complete;
  return state_;
}

const message& head_parser::get(std::string_view bytes) noexcept {
  const auto view = [&](span s) { return bytes.substr(s.off, s.len); };
  msg_.method_name = view(method_);
  msg_.target = view(target_);
  msg_.reason = view(reason_);
  msg_.host = host_.off ? view(host_) : std::string_view();
  msg_.range = range_.off ? view(range_) : std::string_view();
  msg_.if_modified_since = ims_.off ? view(ims_) : std::string_view();
  msg_.location = location_.off ? view(location_) : std::string_view();
  msg_.content_type = content_type_.off ? view(content_type_) : std::string_view();
  for (std::size_t i = 0; i < msg_.field_count; ++i)
    msg_.fields_storage[i] = {view(names_[i]), view(values_[i])};
  return msg_;
}

chunked_decoder::step chunked_decoder::decode(std::string_view in) noexcept {
  std::size_t i = 0;
  const auto error = [&] {
    state_ = state::error;
    return step{i, {}, status::error};
  };
  while (i < in.size()) {
    const char c = in[i];
    switch (state_) {
      case state::size: {
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        if (v >= 0) {
          if (remaining_ >> 56) return error();  // over 2^60 bytes: malformed
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
          digits_ = true;
        } else if (!digits_) {
          return error();
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = state::size_ext;
        } else if (c == '\r') {
          state_ = state::size_lf;
        } else {
          return error();
        }
        ++i;
        break;
      }
      case state::size_ext:
        if (c == '\r') state_ = state::size_lf;
        else if (c != '\t' && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) return error();
        ++i;
        break;
      case state::size_lf:
        if (c != '\n') return error();
        ++i;
        digits_ = false;
        state_ = remaining_ == 0 ? state::trailer_start : state::data;
        break;
      case state::data: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
        const std::string_view data = in.substr(i, n);
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = state::data_cr;
        return {i, data, status::more};
      }
      case state::data_cr:
        if (c != '\r') return error();
        ++i;
        state_ = state::data_lf;
        break;
      case state::data_lf:
        if (c != '\n') return error();
        ++i;
        state_ = state::size;
        break;
      case state::trailer_start:
        state_ = c == '\r' ? state::final_lf : state::trailer;
        if (c == '\n') return error();
        ++i;
        break;
      case state::trailer:
        if (c == '\r') state_ = state::trailer_lf;
        else if (c == '\n' || c == '\0') return error();
        ++i;
        break;
      case state::trailer_lf:
        if (c != '\n') return error();
        ++i;
        state_ = state::trailer_start;
        break;
      case state::final_lf:
        if (c != '\n') return error();
        ++i;
        state_ = state::done;
        return {i, {}, status::done};
      case state::done:
        return {i, {}, status::done};
      case state::error:
        return error();
    }
  }
  if (state_ == state::done) return {i, {}, status::done};
  if (state_ == state::error) return {i, {}, status::error};
  return {i, {}, status::more};
}

}  // namespace http
