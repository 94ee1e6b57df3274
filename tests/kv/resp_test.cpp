// tests/kv/resp_test.cpp: the kv server's RESP2 request parser (split at
// every byte), its inline splitting, its integers, and the glob matcher.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "kv_server/glob.hpp"
#include "kv_server/resp.hpp"

namespace {

using kv::parse_status;

std::vector<std::vector<std::string>> parse_all(std::string_view in, std::size_t& consumed) {
  kv::request_parser p;
  std::vector<std::vector<std::string>> reqs;
  consumed = 0;
  for (;;) {
    auto r = p.parse(in.substr(consumed));
    if (r.status != parse_status::request) break;
    consumed += r.consumed;
    if (!p.args().empty()) reqs.emplace_back(p.args().begin(), p.args().end());
  }
  return reqs;
}

// A stream of requests, fed to the parser as a server would receive it when
// the bytes arrive split at position k, for every k: each prefix parses to
// the requests complete in it, and the whole to all of them.
TEST(KvResp, SplitAtEveryByte) {
  const std::string stream =
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
      "PING\r\n"
      "set k \"a b\\x41\" 'c\\'d'\n"
      "*0\r\n"
      "\r\n"
      "*2\r\n$3\r\nGET\r\n$0\r\n\r\n";
  const std::vector<std::vector<std::string>> want = {
      {"SET", "key", "va\r\nl"}, {"PING"}, {"set", "k", "a bA", "c'd"}, {"GET", ""}};
  std::size_t used = 0;
  ASSERT_EQ(parse_all(stream, used), want);
  EXPECT_EQ(used, stream.size());
  for (std::size_t k = 0; k <= stream.size(); ++k) {
    std::size_t first = 0;
    const auto head = parse_all(std::string_view(stream).substr(0, k), first);
    ASSERT_LE(head.size(), want.size());
    for (std::size_t i = 0; i < head.size(); ++i) EXPECT_EQ(head[i], want[i]) << "split at " << k;
    // The rest arrives: what was not consumed is parsed again with it.
    std::size_t second = 0;
    auto tail = parse_all(std::string_view(stream).substr(first), second);
    EXPECT_EQ(first + second, stream.size()) << "split at " << k;
    auto all = head;
    all.insert(all.end(), tail.begin(), tail.end());
    EXPECT_EQ(all, want) << "split at " << k;
  }
}

TEST(KvResp, IncompleteSaysHowMuchIsNeeded) {
  kv::request_parser p;
  const std::string req = "*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n";
  auto r = p.parse(std::string_view(req).substr(0, 20));  // inside the second bulk
  ASSERT_EQ(r.status, parse_status::incomplete);
  EXPECT_EQ(r.need, req.size());
  for (std::size_t k = 0; k < req.size(); ++k) {
    auto part = p.parse(std::string_view(req).substr(0, k));
    ASSERT_EQ(part.status, parse_status::incomplete) << k;
    EXPECT_GT(part.need, k);
    EXPECT_LE(part.need, req.size());
  }
}

TEST(KvResp, ProtocolErrorsUseRedisWords) {
  struct tc {
    std::string in;
    std::string_view error;
  };
  const tc cases[] = {
      {"*x\r\n", "invalid multibulk length"},
      {"*3000000000\r\n", "invalid multibulk length"},
      {"*1\r\n+foo\r\n", "expected '$', got '+'"},
      {"*1\r\n$-5\r\n", "invalid bulk length"},
      {"*1\r\n$abc\r\n", "invalid bulk length"},
      {"*1\r\n$600000000\r\n", "invalid bulk length"},
      {"GET \"abc\r\n", "unbalanced quotes in request"},
      {"GET \"a\"b\r\n", "unbalanced quotes in request"},
      {"GET 'a\r\n", "unbalanced quotes in request"},
      {std::string(70000, 'A'), "too big inline request"},
      {"*" + std::string(70000, '1'), "too big mbulk count string"},
      {"*1\r\n$" + std::string(70000, '1'), "too big bulk count string"},
  };
  for (const auto& c : cases) {
    kv::request_parser p;
    auto r = p.parse(c.in);
    ASSERT_EQ(r.status, parse_status::error) << c.in.substr(0, 20);
    EXPECT_EQ(r.error, c.error) << c.in.substr(0, 20);
  }
}

TEST(KvResp, EmptyRequestsAreSkipped) {
  kv::request_parser p;
  for (std::string_view in : {"\r\n", "\n", "   \r\n", "*0\r\n", "*-1\r\n"}) {
    auto r = p.parse(in);
    ASSERT_EQ(r.status, parse_status::request) << in;
    EXPECT_EQ(r.consumed, in.size());
    EXPECT_TRUE(p.args().empty());
  }
}

TEST(KvResp, Integers) {
  std::int64_t v = 7;
  EXPECT_TRUE(kv::parse_int64("0", v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(kv::parse_int64("-9223372036854775808", v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(kv::parse_int64("9223372036854775807", v));
  for (std::string_view bad : {"", "-", "-0", "01", "+1", " 1", "1 ", "1x", "0x10",
                               "9223372036854775808", "123456789012345678901"}) {
    EXPECT_FALSE(kv::parse_int64(bad, v)) << bad;
  }
}

TEST(KvResp, Replies) {
  std::string out;
  kv::reply::simple(out, "OK");
  kv::reply::error(out, "ERR x");
  kv::reply::integer(out, -42);
  kv::reply::bulk(out, "a\r\nb");
  kv::reply::null(out);
  kv::reply::array(out, 2);
  EXPECT_EQ(out, "+OK\r\n-ERR x\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n");
}

TEST(KvGlob, MatchesLikeRedis) {
  using kv::glob_match;
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "abc"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_FALSE(glob_match("h?llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "heeeello"));
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(glob_match("h[b-a]llo", "hallo"));  // reversed ranges work too
  EXPECT_TRUE(glob_match("h\\*llo", "h*llo"));
  EXPECT_FALSE(glob_match("h\\*llo", "hello"));
  EXPECT_TRUE(glob_match("key:*:x", "key:1:2:x"));
  EXPECT_FALSE(glob_match("key:*:x", "key:1:2:y"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("abc", "abcd"));
  // A pathological pattern stays fast (backtracking is bounded).
  std::string pathological(30, '*');
  pathological += "a*a*a*a*a*b";  // (string + literal trips GCC 12's -Warray-bounds here)
  EXPECT_FALSE(glob_match(pathological, std::string(2000, 'a')));
}

}  // namespace
