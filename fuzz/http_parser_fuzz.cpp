// fuzz/http_parser_fuzz.cpp: libFuzzer target for the HTTP/1.1 head parser
// (requests and responses), the chunked decoder and the request-target,
// range, date and URL helpers (demos/http/). scripts/fuzz.sh builds and runs
// it for a bounded time.
//
// Besides "no crash, no out-of-bounds read" (ASan, UBSan), it checks what
// the server and the client rely on:
//  - the bytes arriving split at any point (and byte by byte) give the
//    same requests, the same refusal and the same body as the whole;
//  - a complete head lies within the bytes given, and each view of the
//    message points into them;
//  - a decoded path starts with '/' and never holds a ".." segment, a NUL
//    or a backslash; a satisfiable range lies within the size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.hpp"
#include "http/util.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct outcome {
  std::vector<std::string> heads;  // method target host range / status, per message
  int error = 0;
  std::size_t consumed = 0;
  bool operator==(const outcome&) const = default;
};

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() &&
                          part.data() + part.size() <= whole.data() + whole.size());
}

// Parses messages from the start of `in` (as far as given), consuming head
// and Content-Length body; `p` keeps its state across calls.
void run(http::head_parser& p, std::string_view in, outcome& o) {
  while (o.error == 0) {
    const std::string_view rest = in.substr(o.consumed);
    const auto st = p.parse(rest);
    if (st == http::parse_status::incomplete) return;
    if (st == http::parse_status::error) {
      check(p.error_status() >= 400 && !p.error_reason().empty());
      o.error = p.error_status();
      return;
    }
    check(p.head_size() > 0 && p.head_size() <= rest.size());
    const auto& m = p.get(rest);
    const std::string_view head = rest.substr(0, p.head_size());
    check(inside(m.method_name, head) && inside(m.target, head) && inside(m.host, head) &&
          inside(m.range, head) && inside(m.reason, head));
    for (std::size_t i = 0; i < m.field_count; ++i)
      check(inside(m.fields_storage[i].name, head) && inside(m.fields_storage[i].value, head));
    if (rest.size() - p.head_size() < m.content_length) return;  // body not all here
    o.heads.push_back(std::string(m.method_name) + ' ' + std::string(m.target) + ' ' +
                      std::string(m.host) + ' ' + std::string(m.range) + ' ' +
                      std::to_string(m.status) + (m.keep_alive ? " k" : " c"));
    o.consumed += p.head_size() + static_cast<std::size_t>(m.content_length);
    p.reset();
  }
}

outcome whole_of(http::head_parser::kind k, std::string_view in) {
  http::head_parser p(k);
  outcome o;
  run(p, in, o);
  return o;
}

void same_when_split(http::head_parser::kind k, std::string_view in, std::size_t cut) {
  const outcome whole = whole_of(k, in);
  http::head_parser p(k);
  outcome split;
  run(p, in.substr(0, cut), split);
  run(p, in, split);
  check(split == whole);
  if (in.size() <= 512) {
    http::head_parser q(k);
    outcome bytes;
    for (std::size_t i = 0; i <= in.size(); ++i) run(q, in.substr(0, i), bytes);
    check(bytes == whole);
  }
}

std::string dechunk(std::string_view in, std::size_t cut, http::chunked_decoder::status& end) {
  http::chunked_decoder d;
  std::string body;
  std::string pending;
  end = http::chunked_decoder::status::more;
  for (std::string_view piece : {in.substr(0, cut), in.substr(cut)}) {
    pending += piece;
    std::string_view rest = pending;
    while (!rest.empty()) {
      const auto s = d.decode(rest);
      check(s.consumed <= rest.size() && inside(s.data, rest));
      body += s.data;
      rest.remove_prefix(s.consumed);
      if (s.st != http::chunked_decoder::status::more) {
        end = s.st;
        return body;
      }
    }
    pending = std::string(rest);
  }
  return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  same_when_split(http::head_parser::kind::request, in, cut);
  same_when_split(http::head_parser::kind::response, in, cut);

  http::chunked_decoder::status a{}, b{};
  const std::string one = dechunk(in, in.size(), a);
  const std::string two = dechunk(in, cut, b);
  check(a == b && one == two);

  char path[256];
  std::size_t n = 0;
  if (http::decode_path(in, path, n) == http::path_error::none) {
    const std::string_view p(path, n);
    check(!p.empty() && p.front() == '/');
    check(p.find('\0') == std::string_view::npos && p.find('\\') == std::string_view::npos);
    check(p.find("/../") == std::string_view::npos && !p.ends_with("/.."));
  }
  const std::uint64_t total = size * 7u;
  const auto r = http::parse_range(in, total);
  if (r.k == http::byte_range::kind::satisfiable) check(r.first <= r.last && r.last < total);
  if (const auto t = http::parse_date(in)) {
    char again[http::date_size];
    http::format_date(*t, std::span<char, http::date_size>(again));
    // What parses formats back to a valid date (the weekday is recomputed).
    check(http::parse_date(std::string_view(again, sizeof again)).has_value());
  }
  if (const auto u = http::parse_url(in)) check(!u->host.empty() && u->port != 0);
  (void)http::media_type(in);
  return 0;
}
