// demos/kv_server/glob.cpp: see glob.hpp.
#include "kv_server/glob.hpp"

#include <cstddef>

namespace kv {

namespace {

// Matches the set starting after '[' at p[i] against c; sets `i` to the
// index just past the closing ']' (or the end of the pattern, as Redis does
// for an unterminated set).
bool match_set(std::string_view p, std::size_t& i, unsigned char c) noexcept {
  bool negate = false, match = false;
  if (i < p.size() && p[i] == '^') {
    negate = true;
    ++i;
  }
  for (; i < p.size() && p[i] != ']'; ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      ++i;
      if (static_cast<unsigned char>(p[i]) == c) match = true;
    } else if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      auto lo = static_cast<unsigned char>(p[i]), hi = static_cast<unsigned char>(p[i + 2]);
      if (lo > hi) {
        auto t = lo;
        lo = hi;
        hi = t;
      }
      if (c >= lo && c <= hi) match = true;
      i += 2;
    } else if (static_cast<unsigned char>(p[i]) == c) {
      match = true;
    }
  }
  if (i < p.size()) ++i;  // the ']'
  return match != negate;
}

}  // namespace

bool glob_match(std::string_view p, std::string_view s) noexcept {
  std::size_t pi = 0, si = 0;
  // The last star seen and the subject position it now stands for: on a
  // mismatch, that star swallows one more byte and matching resumes.
  std::size_t star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size()) {
      const char pc = p[pi];
      if (pc == '*') {
        while (pi < p.size() && p[pi] == '*') ++pi;
        if (pi == p.size()) return true;
        star_p = pi;
        star_s = si;
        continue;
      }
      std::size_t next = pi + 1;
      bool ok;
      if (pc == '?') {
        ok = true;
      } else if (pc == '[') {
        ok = match_set(p, next, static_cast<unsigned char>(s[si]));
      } else if (pc == '\\' && pi + 1 < p.size()) {
        ok = p[pi + 1] == s[si];
        next = pi + 2;
      } else {
        ok = pc == s[si];
      }
      if (ok) {
        pi = next;
        ++si;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace kv
