// fuzz/resp_parser_fuzz.cpp: libFuzzer target for the kv server's RESP2
// request parser (demos/kv_server/resp.cpp) and its glob matcher.
// scripts/fuzz.sh builds and runs it for a bounded time.
//
// Besides "no crash, no out-of-bounds read" (ASan, UBSan), it checks what a
// server relies on:
//  - every parse makes progress (a request consumes bytes; `incomplete`
//    asks for more than it was given);
//  - the bytes arriving split at any point parse to the same requests as
//    the whole (the server reparses what it did not consume);
//  - a request re-encoded as a multibulk parses back to the same arguments.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kv_server/glob.hpp"
#include "kv_server/resp.hpp"

namespace {

struct outcome {
  std::vector<std::vector<std::string>> requests;
  bool error = false;
  std::size_t consumed = 0;
};

void check(bool ok) {
  if (!ok) std::abort();
}

// Parses requests from `in` until it needs more or fails.
void parse_from(kv::request_parser& p, std::string_view in, outcome& o) {
  for (;;) {
    const auto rest = in.substr(o.consumed);
    const auto r = p.parse(rest);
    if (r.status == kv::parse_status::incomplete) {
      check(r.need > rest.size());
      return;
    }
    if (r.status == kv::parse_status::error) {
      check(!r.error.empty());
      o.error = true;
      return;
    }
    check(r.consumed > 0 && r.consumed <= rest.size());
    o.consumed += r.consumed;
    if (!p.args().empty()) o.requests.emplace_back(p.args().begin(), p.args().end());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  kv::request_parser p;

  outcome whole;
  parse_from(p, in, whole);

  // The same bytes arriving in two pieces.
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  outcome split;
  parse_from(p, in.substr(0, cut), split);
  if (!split.error) parse_from(p, in, split);
  check(split.error == whole.error);
  check(split.requests == whole.requests);
  if (!whole.error) check(split.consumed == whole.consumed);

  // Re-encoded requests parse back the same.
  for (const auto& req : whole.requests) {
    std::string enc;
    kv::reply::array(enc, req.size());
    for (const auto& a : req) kv::reply::bulk(enc, a);
    const auto r = p.parse(enc);
    check(r.status == kv::parse_status::request && r.consumed == enc.size());
    check(std::vector<std::string>(p.args().begin(), p.args().end()) == req);
  }

  // The glob matcher: the first half is the pattern, the second the subject.
  (void)kv::glob_match(in.substr(0, size / 2), in.substr(size / 2));
  return 0;
}
