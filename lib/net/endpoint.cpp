// lib/net/endpoint.cpp: parsing and formatting of corio::net::endpoint.
//
// Written by hand, with no OS headers (no inet_pton / inet_ntop), so that the
// same rules hold on every platform: inet_pton differs between libcs (leading
// zeros, scope ids) and is missing from some older Windows toolchains.
//
// Accepted text:
//   endpoint   = v4 ":" port | "[" v6 [ "%" scope ] "]" ":" port
//   address    = v4 | v6 [ "%" scope ]                     (parse(address, port))
//   v4         = four decimal octets 0-255; "0" but never "01" (octal in some parsers)
//   v6         = RFC 4291 section 2.2: 1-4 hex digits per group, "::" at most once,
//                an optional dotted v4 tail as the last 32 bits
//   port       = decimal 0-65535;  scope = decimal 0-4294967295
// Anything else, including spaces and signs anywhere, is errc::invalid_endpoint.

#include "corio/net/endpoint.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corio::net {
namespace {

using v6_bytes = std::array<std::uint8_t, 16>;

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// The value of a hex digit of either case, or -1 for any other byte.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The whole of `s` as a decimal number no greater than `max`, or nullopt if
// `s` is empty, holds a non-digit, or is too large. Leading zeros are allowed
// (a port or scope id has no octal reading to confuse it with).
std::optional<std::uint32_t> parse_decimal(std::string_view s, std::uint32_t max) noexcept {
  if (s.empty()) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const auto d = static_cast<std::uint32_t>(c - '0');
    if (value > (max - d) / 10) return std::nullopt;  // value * 10 + d > max
    value = value * 10 + d;
  }
  return value;
}

// The whole of `s` as a dotted quad into out[0..3]; false if it is anything else.
bool parse_v4(std::string_view s, std::uint8_t* out) noexcept {
  std::size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i == s.size() || s[i] != '.') return false;
      ++i;
    }
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    const std::size_t len = i - start;
    if (len == 0 || value > 255) return false;
    if (len > 1 && s[start] == '0') return false;  // "01": octal to inet_aton
    out[octet] = static_cast<std::uint8_t>(value);
  }
  return i == s.size();  // also rejects a fourth digit in an octet ("1.2.3.1234")
}

// The whole of `s` as an RFC 4291 text address (no scope) into `out`.
bool parse_v6(std::string_view s, v6_bytes& out) noexcept {
  std::array<std::uint16_t, 8> groups{};
  int n = 0;     // groups read so far; a v4 tail counts as two
  int gap = -1;  // index in `groups` where "::" stands, or -1 if none
  std::size_t i = 0;

  if (s.starts_with("::")) {
    gap = 0;
    i = 2;
  } else if (s.starts_with(':')) {
    return false;  // ":1" and the like
  }

  if (i < s.size()) {
    for (;;) {
      // A group must start here: "1:", "1::2:" and ":::" all fail at this point.
      std::size_t j = i;
      while (j < s.size() && hex_value(s[j]) >= 0) ++j;
      const std::size_t digits = j - i;
      if (digits == 0) return false;
      if (j < s.size() && s[j] == '.') {
        // A dotted v4 tail: the last 32 bits, so nothing may follow it.
        if (n > 6) return false;
        std::uint8_t quad[4];
        if (!parse_v4(s.substr(i), quad)) return false;
        groups[n++] = static_cast<std::uint16_t>(quad[0] << 8 | quad[1]);
        groups[n++] = static_cast<std::uint16_t>(quad[2] << 8 | quad[3]);
        break;
      }
      if (digits > 4 || n == 8) return false;
      unsigned value = 0;
      for (std::size_t k = i; k < j; ++k)
        value = value << 4 | static_cast<unsigned>(hex_value(s[k]));
      groups[n++] = static_cast<std::uint16_t>(value);
      i = j;
      if (i == s.size()) break;
      if (s[i] != ':') return false;
      ++i;
      if (i < s.size() && s[i] == ':') {
        if (gap >= 0) return false;  // a second "::"
        gap = n;
        ++i;
        if (i == s.size()) break;  // a trailing "::"
      }
    }
  }

  if (gap < 0) {
    if (n != 8) return false;
  } else {
    // "::" stands for one or more zero groups, so at most 7 are written.
    if (n > 7) return false;
    const int tail = n - gap;
    for (int k = 0; k < tail; ++k) groups[7 - k] = groups[n - 1 - k];
    for (int k = gap; k < 8 - tail; ++k) groups[k] = 0;
  }
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<std::uint8_t>(groups[k] >> 8);
    out[2 * k + 1] = static_cast<std::uint8_t>(groups[k] & 0xff);
  }
  return true;
}

// A bare address, v4 or v6 with an optional numeric "%scope", with `port`.
// With `v6_only`, v4 is refused (the text stood between brackets).
std::optional<endpoint> parse_address(std::string_view text, std::uint16_t port,
                                      bool v6_only) noexcept {
  std::string_view addr = text;
  std::uint32_t scope = 0;
  bool has_scope = false;
  if (const auto pct = text.find('%'); pct != std::string_view::npos) {
    const auto parsed = parse_decimal(text.substr(pct + 1), 0xffffffffu);
    if (!parsed) return std::nullopt;
    scope = *parsed;
    has_scope = true;
    addr = text.substr(0, pct);
  }
  if (!v6_only && !has_scope) {
    std::array<std::uint8_t, 4> quad{};
    if (parse_v4(addr, quad.data())) return endpoint::v4(quad, port);
  }
  v6_bytes bytes{};
  if (!parse_v6(addr, bytes)) return std::nullopt;
  return endpoint::v6(bytes, port, scope);
}

void append_decimal(std::string& out, std::uint32_t value) {
  char buf[10];
  int len = 0;
  do {
    buf[len++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (len > 0) out += buf[--len];
}

void append_v4(std::string& out, const std::uint8_t* quad) {
  for (int k = 0; k < 4; ++k) {
    if (k > 0) out += '.';
    append_decimal(out, quad[k]);
  }
}

// Lowercase hex with no leading zeros ("0" for zero), as RFC 5952 4.1 and 4.3 ask.
void append_hex(std::string& out, std::uint16_t value) {
  static constexpr char digits[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned d = (value >> shift) & 0xfu;
    if (d != 0 || started || shift == 0) {
      out += digits[d];
      started = true;
    }
  }
}

bool is_v4_mapped(const v6_bytes& b) noexcept {
  for (int k = 0; k < 10; ++k) {
    if (b[k] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

// RFC 5952: the longest run of two or more zero groups becomes "::" (the first
// on a tie); IPv4-mapped addresses keep their dotted tail (section 5).
void append_v6(std::string& out, const v6_bytes& b) {
  if (is_v4_mapped(b)) {
    out += "::ffff:";
    append_v4(out, b.data() + 12);
    return;
  }
  std::array<std::uint16_t, 8> groups{};
  for (int k = 0; k < 8; ++k) groups[k] = static_cast<std::uint16_t>(b[2 * k] << 8 | b[2 * k + 1]);

  int best = -1;
  int best_len = 1;  // a single zero group is never compressed (section 4.2.2)
  for (int k = 0; k < 8;) {
    if (groups[k] != 0) {
      ++k;
      continue;
    }
    int end = k;
    while (end < 8 && groups[end] == 0) ++end;
    if (end - k > best_len) {
      best = k;
      best_len = end - k;
    }
    k = end;
  }

  for (int k = 0; k < 8; ++k) {
    if (k == best) {
      out += "::";
      k += best_len - 1;
      continue;
    }
    if (k > 0 && k != best + best_len) out += ':';
    append_hex(out, groups[k]);
  }
}

}  // namespace

result<endpoint> endpoint::parse(std::string_view text) {
  std::string_view addr;
  std::string_view rest;
  bool bracketed = false;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return fail(errc::invalid_endpoint);
    addr = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    bracketed = true;
  } else {
    // Without brackets only v4 may carry a port: "::1:80" could be either
    // ::1 port 80 or ::1:80 with no port, so the first ':' must end a v4.
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return fail(errc::invalid_endpoint);
    addr = text.substr(0, colon);
    rest = text.substr(colon);
  }
  if (!rest.starts_with(':')) return fail(errc::invalid_endpoint);
  const auto port = parse_decimal(rest.substr(1), 0xffff);
  if (!port) return fail(errc::invalid_endpoint);
  if (!bracketed && addr.find('%') != std::string_view::npos) {
    return fail(errc::invalid_endpoint);  // a scope only makes sense on v6
  }
  auto ep = parse_address(addr, static_cast<std::uint16_t>(*port), bracketed);
  if (!ep) return fail(errc::invalid_endpoint);
  return *ep;
}

result<endpoint> endpoint::parse(std::string_view address, std::uint16_t port) {
  auto ep = parse_address(address, port, false);
  if (!ep) return fail(errc::invalid_endpoint);
  return *ep;
}

endpoint endpoint::v4(std::array<std::uint8_t, 4> addr, std::uint16_t port) noexcept {
  endpoint e;
  for (std::size_t k = 0; k < 4; ++k) e.addr_[k] = addr[k];
  e.port_ = port;
  e.family_ = family::v4;
  return e;
}

endpoint endpoint::v6(std::array<std::uint8_t, 16> addr, std::uint16_t port,
                      std::uint32_t scope_id) noexcept {
  endpoint e;
  e.addr_ = addr;
  e.scope_id_ = scope_id;
  e.port_ = port;
  e.family_ = family::v6;
  return e;
}

endpoint endpoint::loopback_v4(std::uint16_t port) noexcept {
  return v4({127, 0, 0, 1}, port);
}

endpoint endpoint::loopback_v6(std::uint16_t port) noexcept {
  std::array<std::uint8_t, 16> addr{};
  addr[15] = 1;
  return v6(addr, port);
}

std::string endpoint::address_string() const {
  std::string out;
  out.reserve(48);
  if (family_ == family::v4) {
    append_v4(out, addr_.data());
    return out;
  }
  append_v6(out, addr_);
  if (scope_id_ != 0) {
    out += '%';
    append_decimal(out, scope_id_);
  }
  return out;
}

std::string endpoint::to_string() const {
  std::string out;
  out.reserve(56);
  if (family_ == family::v6) out += '[';
  out += address_string();
  if (family_ == family::v6) out += ']';
  out += ':';
  append_decimal(out, port_);
  return out;
}

}  // namespace corio::net
