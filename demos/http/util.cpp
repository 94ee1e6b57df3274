// demos/http/util.cpp
#include "http/util.hpp"

#include <array>
#include <cstring>

#include "http/parser.hpp"

namespace http {

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {

constexpr std::array<std::string_view, 7> weekdays = {"Thu", "Fri", "Sat", "Sun",
                                                      "Mon", "Tue", "Wed"};  // 1970-01-01 was a Thursday
constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 to a civil date, and back (H. Hinnant's algorithms):
// portable, unlike gmtime_r / timegm, and exact for any year here.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void two_digits(char* at, unsigned v) noexcept {
  at[0] = static_cast<char>('0' + v / 10 % 10);
  at[1] = static_cast<char>('0' + v % 10);
}

bool digits(std::string_view s, unsigned& out) noexcept {
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return !s.empty();
}

int hex(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void format_date(std::time_t t, std::span<char, date_size> out) noexcept {
  const std::int64_t secs = static_cast<std::int64_t>(t);
  std::int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char* p = out.data();
  const auto wd = weekdays[static_cast<std::size_t>(((days % 7) + 7) % 7)];
  std::memcpy(p, wd.data(), 3);
  std::memcpy(p + 3, ", ", 2);
  two_digits(p + 5, d);
  p[7] = ' ';
  std::memcpy(p + 8, months[m - 1].data(), 3);
  p[11] = ' ';
  const auto year = static_cast<unsigned>(y < 0 ? 0 : y > 9999 ? 9999 : y);
  two_digits(p + 12, year / 100);
  two_digits(p + 14, year % 100);
  p[16] = ' ';
  two_digits(p + 17, static_cast<unsigned>(rem / 3600));
  p[19] = ':';
  two_digits(p + 20, static_cast<unsigned>(rem / 60 % 60));
  p[22] = ':';
  two_digits(p + 23, static_cast<unsigned>(rem % 60));
  std::memcpy(p + 25, " GMT", 4);
}

std::optional<std::time_t> parse_date(std::string_view s) noexcept {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  if (s.size() != date_size || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  bool weekday_ok = false;
  for (auto w : weekdays) weekday_ok = weekday_ok || s.substr(0, 3) == w;
  unsigned month = 0;
  for (unsigned i = 0; i < months.size(); ++i)
    if (s.substr(8, 3) == months[i]) month = i + 1;
  unsigned day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  if (!weekday_ok || month == 0 || !digits(s.substr(5, 2), day) || !digits(s.substr(12, 4), year) ||
      !digits(s.substr(17, 2), hh) || !digits(s.substr(20, 2), mm) || !digits(s.substr(23, 2), ss))
    return std::nullopt;
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  const std::int64_t days = days_from_civil(year, month, day);
  return static_cast<std::time_t>(days * 86400 + hh * 3600 + mm * 60 + ss);
}

std::string_view date_now() noexcept {
  struct cache {
    std::time_t second = -1;
    std::array<char, date_size> text{};
  };
  static thread_local cache c;
  const std::time_t now = std::time(nullptr);
  if (now != c.second) {
    c.second = now;
    format_date(now, std::span<char, date_size>(c.text));
  }
  return {c.text.data(), c.text.size()};
}

std::string_view media_type(std::string_view path) noexcept {
  struct entry {
    std::string_view ext, type;
  };
  static constexpr entry table[] = {
      {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},         {"txt", "text/plain; charset=utf-8"},
      {"md", "text/markdown; charset=utf-8"},
      {"xml", "application/xml"},           {"svg", "image/svg+xml"},
      {"png", "image/png"},                 {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},               {"gif", "image/gif"},
      {"webp", "image/webp"},               {"ico", "image/x-icon"},
      {"avif", "image/avif"},               {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},           {"zip", "application/zip"},
      {"gz", "application/gzip"},           {"tar", "application/x-tar"},
      {"mp4", "video/mp4"},                 {"webm", "video/webm"},
      {"mp3", "audio/mpeg"},                {"ogg", "audio/ogg"},
      {"woff", "font/woff"},                {"woff2", "font/woff2"},
  };
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
  const std::string_view ext = name.substr(dot + 1);
  for (const auto& e : table)
    if (iequals(e.ext, ext)) return e.type;
  return "application/octet-stream";
}

byte_range parse_range(std::string_view value, std::uint64_t size) noexcept {
  byte_range r;
  if (!value.starts_with("bytes=")) return r;
  std::string_view spec = value.substr(6);
  if (spec.find(',') != std::string_view::npos) return r;  // several ranges: serve the whole
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return r;
  const std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {
    // bytes=-n: the last n bytes.
    if (!parse_decimal(b, last)) return r;
    if (last == 0 || size == 0) {
      r.k = byte_range::kind::unsatisfiable;
      return r;
    }
    r.k = byte_range::kind::satisfiable;
    r.first = last >= size ? 0 : size - last;
    r.last = size - 1;
    return r;
  }
  if (!parse_decimal(a, first)) return r;
  if (b.empty()) {
    last = size ? size - 1 : 0;
  } else {
    if (!parse_decimal(b, last) || last < first) return r;  // invalid: ignored
    if (last >= size) last = size ? size - 1 : 0;
  }
  if (first >= size) {
    r.k = byte_range::kind::unsatisfiable;
    return r;
  }
  r.k = byte_range::kind::satisfiable;
  r.first = first;
  r.last = last;
  return r;
}

std::string_view describe(path_error e) noexcept {
  switch (e) {
    case path_error::none: return "";
    case path_error::not_origin_form: return "the request target must start with /";
    case path_error::bad_escape: return "malformed percent-encoding in the path";
    case path_error::nul: return "NUL in the path";
    case path_error::backslash: return "backslash in the path";
    case path_error::traversal: return "'..' in the path";
    case path_error::too_long: return "path too long";
  }
  return "";
}

path_error decode_path(std::string_view target, std::span<char> out, std::size_t& length) noexcept {
  if (target.empty() || target.front() != '/') return path_error::not_origin_form;
  const std::size_t query = target.find_first_of("?#");
  if (query != std::string_view::npos) target = target.substr(0, query);
  std::size_t n = 0;
  for (std::size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return path_error::bad_escape;
      const int hi = hex(target[i + 1]), lo = hex(target[i + 2]);
      if (hi < 0 || lo < 0) return path_error::bad_escape;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return path_error::nul;  // raw (from a caller that did not check) or %00
    if (c == '\\') return path_error::backslash;
    if (n == out.size()) return path_error::too_long;
    out[n++] = c;
  }
  // Segments, decoded: any ".." is refused, wherever it is (even "/a/../a"
  // that stays inside the root: a client has no reason to send it).
  const std::string_view path(out.data(), n);
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return path_error::traversal;
    start = end + 1;
  }
  length = n;
  return path_error::none;
}

std::optional<url> parse_url(std::string_view s) noexcept {
  url u;
  std::size_t colon = s.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  u.scheme = s.substr(0, colon);
  if (u.scheme == "http") u.port = 80;
  else if (u.scheme == "https") u.port = 443;
  else return std::nullopt;
  std::string_view rest = s.substr(colon + 3);
  const std::size_t path = rest.find_first_of("/?#");
  u.authority = rest.substr(0, path);
  u.target = path == std::string_view::npos ? std::string_view("/") : rest.substr(path);
  if (!u.target.empty() && u.target.front() != '/') return std::nullopt;  // "?q" without a path
  const std::size_t hash = u.target.find('#');
  if (hash != std::string_view::npos) u.target = u.target.substr(0, hash);
  if (u.authority.empty() || u.authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view hostport = u.authority;
  std::string_view port;
  if (hostport.front() == '[') {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = hostport.substr(1, close - 1);
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    const std::size_t c = hostport.rfind(':');
    u.host = hostport.substr(0, c);
    if (c != std::string_view::npos) port = hostport.substr(c + 1);
  }
  if (u.host.empty()) return std::nullopt;
  if (!port.empty() || hostport.back() == ':') {
    std::uint64_t p = 0;
    if (!parse_decimal(port, p) || p == 0 || p > 65535) return std::nullopt;
    u.port = static_cast<std::uint16_t>(p);
  }
  return u;
}

}  // namespace http
