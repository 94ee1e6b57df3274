// demos/kv_server/resp.cpp: see resp.hpp.
#include "kv_server/resp.hpp"

#include <charconv>
#include <cstring>

namespace kv {

namespace {

// The header line "<c><digits>\r\n" at `at`: its number and where the line
// ends. Redis parses the digits with string2ll and finds the line by its
// '\r' (the '\n' is assumed to follow).
struct header {
  bool complete = false;  // a '\r' was found
  bool too_big = false;   // no '\r' within max_inline_size
  std::int64_t value = 0;
  bool ok = false;        // the digits parsed
  std::size_t next = 0;   // the first byte after "\r\n"
};

header read_header(std::string_view in, std::size_t at) {
  header h;
  const auto cr = in.find('\r', at);
  if (cr == std::string_view::npos) {
    h.too_big = in.size() - at > max_inline_size;
    return h;
  }
  if (cr - at > max_inline_size) {
    h.too_big = true;
    return h;
  }
  if (cr + 1 >= in.size()) return h;  // the '\n' is not here yet
  h.complete = true;
  h.ok = parse_int64(in.substr(at + 1, cr - at - 1), h.value);
  h.next = cr + 2;
  return h;
}

parse_result incomplete(std::size_t need) {
  parse_result r;
  r.need = need;
  return r;
}
parse_result complete(std::size_t consumed) {
  parse_result r;
  r.status = parse_status::request;
  r.consumed = consumed;
  return r;
}
parse_result failure(std::string_view error) {
  parse_result r;
  r.status = parse_status::error;
  r.error = error;
  return r;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_blank(char c) noexcept {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0';
}

}  // namespace

bool parse_int64(std::string_view s, std::int64_t& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  if (s.size() == 1 && s[0] == '0') {
    out = 0;
    return true;
  }
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size() || s[i] < '1' || s[i] > '9') return false;  // no leading zero, "-", "-0"
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  out = v;
  return true;
}

parse_result request_parser::parse(std::string_view in) {
  args_.clear();
  if (in.empty()) return incomplete(1);
  return in[0] == '*' ? parse_multibulk(in) : parse_inline(in);
}

parse_result request_parser::parse_multibulk(std::string_view in) {
  const header count = read_header(in, 0);
  if (count.too_big) return failure("too big mbulk count string");
  if (!count.complete) return incomplete(in.size() + 1);
  if (!count.ok || count.value > max_multibulk_len) {
    return failure("invalid multibulk length");
  }
  if (count.value <= 0) return complete(count.next);
  std::size_t at = count.next;
  for (std::int64_t i = 0; i < count.value; ++i) {
    if (at >= in.size()) return incomplete(at + 1);
    if (in[at] != '$') {
      args_.clear();
      error_text_ = "expected '$', got ' '";
      error_text_[error_text_.size() - 2] = in[at];
      return failure(error_text_);
    }
    const header len = read_header(in, at);
    if (len.too_big) return failure("too big bulk count string");
    if (!len.complete) return incomplete(in.size() + 1);
    if (!len.ok || len.value < 0 || len.value > max_bulk_len) {
      return failure("invalid bulk length");
    }
    const auto n = static_cast<std::size_t>(len.value);
    const std::size_t end = len.next + n + 2;  // the bulk and its "\r\n"
    if (end > in.size()) return incomplete(end);
    args_.push_back(in.substr(len.next, n));
    at = end;
  }
  return complete(at);
}

parse_result request_parser::parse_inline(std::string_view in) {
  const auto nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (in.size() > max_inline_size) return failure("too big inline request");
    return incomplete(in.size() + 1);
  }
  if (nl > max_inline_size) return failure("too big inline request");
  auto line = in.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!split_inline(line, scratch_, args_)) {
    args_.clear();
    return failure("unbalanced quotes in request");
  }
  return complete(nl + 1);
}

bool split_inline(std::string_view line, std::string& scratch, std::vector<std::string_view>& out) {
  scratch.clear();
  scratch.reserve(line.size());  // unquoting only shrinks: the views never move
  std::size_t i = 0;
  for (;;) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) return true;
    const std::size_t start = scratch.size();
    bool in_double = false, in_single = false, done = false;
    while (!done) {
      if (in_double) {
        if (i == line.size()) return false;  // unterminated quotes
        const char c = line[i];
        if (c == '\\' && i + 3 < line.size() && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          scratch.push_back(static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 3;
        } else if (c == '\\' && i + 1 < line.size()) {
          ++i;
          switch (line[i]) {
            case 'n': scratch.push_back('\n'); break;
            case 'r': scratch.push_back('\r'); break;
            case 't': scratch.push_back('\t'); break;
            case 'b': scratch.push_back('\b'); break;
            case 'a': scratch.push_back('\a'); break;
            default: scratch.push_back(line[i]); break;
          }
        } else if (c == '"') {
          // A closing quote must be followed by a blank or the end.
          if (i + 1 < line.size() && !is_blank(line[i + 1])) return false;
          done = true;
        } else {
          scratch.push_back(c);
        }
      } else if (in_single) {
        if (i == line.size()) return false;
        const char c = line[i];
        if (c == '\\' && i + 1 < line.size() && line[i + 1] == '\'') {
          ++i;
          scratch.push_back('\'');
        } else if (c == '\'') {
          if (i + 1 < line.size() && !is_blank(line[i + 1])) return false;
          done = true;
        } else {
          scratch.push_back(c);
        }
      } else {
        if (i == line.size()) {
          done = true;
          break;
        }
        const char c = line[i];
        if (is_blank(c)) {
          done = true;
        } else if (c == '"') {
          in_double = true;
        } else if (c == '\'') {
          in_single = true;
        } else {
          scratch.push_back(c);
        }
      }
      if (i < line.size()) ++i;
    }
    out.emplace_back(scratch.data() + start, scratch.size() - start);
  }
}

namespace reply {

namespace {
void header_line(std::string& out, char type, std::int64_t v) {
  char buf[24];
  buf[0] = type;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, v);
  (void)ec;  // 21 characters always suffice for an int64
  end[0] = '\r';
  end[1] = '\n';
  out.append(buf, static_cast<std::size_t>(end + 2 - buf));
}
}  // namespace

void simple(std::string& out, std::string_view s) {
  out.push_back('+');
  out.append(s);
  out.append("\r\n");
}

void error(std::string& out, std::string_view s) {
  out.push_back('-');
  out.append(s);
  out.append("\r\n");
}

void integer(std::string& out, std::int64_t v) { header_line(out, ':', v); }

void bulk(std::string& out, std::string_view s) {
  header_line(out, '$', static_cast<std::int64_t>(s.size()));
  out.append(s);
  out.append("\r\n");
}

void null(std::string& out) { out.append("$-1\r\n"); }

void array(std::string& out, std::size_t n) { header_line(out, '*', static_cast<std::int64_t>(n)); }

void ok(std::string& out) { out.append("+OK\r\n"); }

}  // namespace reply

}  // namespace kv
