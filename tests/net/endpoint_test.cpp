// tests/net/endpoint_test.cpp: parsing and formatting of corio::net::endpoint.

#include "corio/net/endpoint.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "corio/result.hpp"

// Where the platform has inet_pton / inet_ntop, the hand-written parser and
// formatter are checked against them as well. They are never used by corio.
#if defined(__linux__) && __has_include(<arpa/inet.h>)
#include <arpa/inet.h>
#define CORIO_TEST_HAVE_INET 1
#else
#define CORIO_TEST_HAVE_INET 0
#endif

namespace {

using corio::net::endpoint;
using bytes16 = std::array<std::uint8_t, 16>;

// The 16 bytes of a v6 address given as eight groups.
bytes16 groups(std::array<std::uint16_t, 8> g) {
  bytes16 b{};
  for (std::size_t k = 0; k < 8; ++k) {
    b[2 * k] = static_cast<std::uint8_t>(g[k] >> 8);
    b[2 * k + 1] = static_cast<std::uint8_t>(g[k] & 0xff);
  }
  return b;
}

// Every successful parse must survive formatting and parsing again, and its
// text must already be canonical (formatting the re-parsed value changes nothing).
void expect_round_trip(const endpoint& e) {
  const std::string text = e.to_string();
  auto again = endpoint::parse(text);
  ASSERT_TRUE(again.has_value()) << text;
  EXPECT_EQ(*again, e) << text;
  EXPECT_EQ(again->to_string(), text);
  auto bare = endpoint::parse(e.address_string(), e.port());
  ASSERT_TRUE(bare.has_value()) << e.address_string();
  EXPECT_EQ(*bare, e) << e.address_string();
}

// ---------------------------------------------------------------------------
// Constructors

TEST(Endpoint, DefaultIsV4AnyPortZero) {
  const endpoint e;
  EXPECT_TRUE(e.is_v4());
  EXPECT_EQ(e.af(), endpoint::family::v4);
  EXPECT_EQ(e.port(), 0);
  EXPECT_EQ(e.scope_id(), 0u);
  EXPECT_EQ(e.bytes(), bytes16{});
  EXPECT_EQ(e.to_string(), "0.0.0.0:0");
}

TEST(Endpoint, V4Constructor) {
  const auto e = endpoint::v4({192, 168, 1, 254}, 8080);
  EXPECT_TRUE(e.is_v4());
  EXPECT_EQ(e.port(), 8080);
  EXPECT_EQ(e.bytes(), (bytes16{192, 168, 1, 254}));
  EXPECT_EQ(e.address_string(), "192.168.1.254");
  EXPECT_EQ(e.to_string(), "192.168.1.254:8080");
}

TEST(Endpoint, V6Constructor) {
  const auto addr = groups({0xfe80, 0, 0, 0, 0, 0, 0, 1});
  const auto e = endpoint::v6(addr, 443, 3);
  EXPECT_FALSE(e.is_v4());
  EXPECT_EQ(e.af(), endpoint::family::v6);
  EXPECT_EQ(e.port(), 443);
  EXPECT_EQ(e.scope_id(), 3u);
  EXPECT_EQ(e.bytes(), addr);
  EXPECT_EQ(e.to_string(), "[fe80::1%3]:443");
  EXPECT_EQ(endpoint::v6(addr, 443).scope_id(), 0u);
}

TEST(Endpoint, Loopbacks) {
  EXPECT_EQ(endpoint::loopback_v4(80).to_string(), "127.0.0.1:80");
  EXPECT_EQ(endpoint::loopback_v6(80).to_string(), "[::1]:80");
  EXPECT_EQ(endpoint::loopback_v4(0), endpoint::v4({127, 0, 0, 1}, 0));
  EXPECT_EQ(endpoint::loopback_v6(65535), endpoint::v6(groups({0, 0, 0, 0, 0, 0, 0, 1}), 65535));
}

TEST(Endpoint, SetPortAndEquality) {
  auto e = endpoint::loopback_v4(1);
  e.set_port(2);
  EXPECT_EQ(e.port(), 2);
  EXPECT_EQ(e, endpoint::loopback_v4(2));
  EXPECT_NE(e, endpoint::loopback_v4(1));
  // Same port, same scope, different family: never equal.
  EXPECT_NE(endpoint::v4({0, 0, 0, 0}, 0), endpoint::v6({}, 0));
  EXPECT_NE(endpoint::v6({}, 0, 1), endpoint::v6({}, 0, 2));
}

// ---------------------------------------------------------------------------
// Valid text

TEST(Endpoint, ParsesV4) {
  struct row {
    std::string_view text;
    std::array<std::uint8_t, 4> addr;
    std::uint16_t port;
  };
  const row rows[] = {
      {"1.2.3.4:80", {1, 2, 3, 4}, 80},
      {"0.0.0.0:0", {0, 0, 0, 0}, 0},
      {"255.255.255.255:65535", {255, 255, 255, 255}, 65535},
      {"127.0.0.1:8080", {127, 0, 0, 1}, 8080},
      {"10.0.100.199:1", {10, 0, 100, 199}, 1},
      {"1.2.3.4:0080", {1, 2, 3, 4}, 80},  // a port has no octal reading
      {"1.2.3.4:00000000000000065535", {1, 2, 3, 4}, 65535},
  };
  for (const auto& r : rows) {
    auto e = endpoint::parse(r.text);
    ASSERT_TRUE(e.has_value()) << r.text;
    EXPECT_EQ(*e, endpoint::v4(r.addr, r.port)) << r.text;
    expect_round_trip(*e);
  }
}

TEST(Endpoint, ParsesV6) {
  struct row {
    std::string_view text;
    std::array<std::uint16_t, 8> addr;
    std::uint16_t port;
    std::uint32_t scope;
  };
  const row rows[] = {
      {"[::]:0", {0, 0, 0, 0, 0, 0, 0, 0}, 0, 0},
      {"[::1]:80", {0, 0, 0, 0, 0, 0, 0, 1}, 80, 0},
      {"[1::]:80", {1, 0, 0, 0, 0, 0, 0, 0}, 80, 0},
      {"[fe80::1%2]:80", {0xfe80, 0, 0, 0, 0, 0, 0, 1}, 80, 2},
      {"[fe80::1%0]:80", {0xfe80, 0, 0, 0, 0, 0, 0, 1}, 80, 0},
      {"[fe80::1%4294967295]:1", {0xfe80, 0, 0, 0, 0, 0, 0, 1}, 1, 4294967295u},
      {"[1:2:3:4:5:6:7:8]:65535", {1, 2, 3, 4, 5, 6, 7, 8}, 65535, 0},
      {"[2001:DB8::AaAa]:9", {0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xaaaa}, 9, 0},
      {"[0001:0020:0300:4000::]:9", {1, 0x20, 0x300, 0x4000, 0, 0, 0, 0}, 9, 0},
      {"[1::8]:9", {1, 0, 0, 0, 0, 0, 0, 8}, 9, 0},
      // "::" may stand for a single group (RFC 4291), though 5952 never prints it so.
      {"[1::3:4:5:6:7:8]:9", {1, 0, 3, 4, 5, 6, 7, 8}, 9, 0},
      {"[1:2:3:4:5:6:7::]:9", {1, 2, 3, 4, 5, 6, 7, 0}, 9, 0},
      {"[::2:3:4:5:6:7:8]:9", {0, 2, 3, 4, 5, 6, 7, 8}, 9, 0},
      {"[::ffff:1.2.3.4]:9", {0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304}, 9, 0},
      {"[::FFFF:192.0.2.1%7]:9", {0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201}, 9, 7},
      {"[::1.2.3.4]:9", {0, 0, 0, 0, 0, 0, 0x0102, 0x0304}, 9, 0},
      {"[1:2:3:4:5:6:1.2.3.4]:9", {1, 2, 3, 4, 5, 6, 0x0102, 0x0304}, 9, 0},
      {"[64:ff9b::192.0.2.33]:9", {0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221}, 9, 0},
      {"[1::2:0.0.0.0]:9", {1, 0, 0, 0, 0, 2, 0, 0}, 9, 0},
  };
  for (const auto& r : rows) {
    auto e = endpoint::parse(r.text);
    ASSERT_TRUE(e.has_value()) << r.text;
    EXPECT_EQ(*e, endpoint::v6(groups(r.addr), r.port, r.scope)) << r.text;
    expect_round_trip(*e);
  }
}

TEST(Endpoint, ParsesBareAddressWithPort) {
  auto a = endpoint::parse("127.0.0.1", 80);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, endpoint::loopback_v4(80));

  auto b = endpoint::parse("::1", 80);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, endpoint::loopback_v6(80));

  auto c = endpoint::parse("fe80::1%2", 7);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(*c, endpoint::v6(groups({0xfe80, 0, 0, 0, 0, 0, 0, 1}), 7, 2));

  // Without a port in the text there is no ambiguity: this is ::0.1.0.128.
  auto d = endpoint::parse("::1:80", 5);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, endpoint::v6(groups({0, 0, 0, 0, 0, 0, 1, 0x80}), 5));
  EXPECT_EQ(d->to_string(), "[::1:80]:5");
}

// ---------------------------------------------------------------------------
// Canonical formatting (RFC 5952)

TEST(Endpoint, FormatsV6Canonically) {
  struct row {
    std::string_view in;
    std::string_view out;
  };
  const row rows[] = {
      // Section 4.1: leading zeros dropped.
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1"},
      {"0001:0020:0300:4000:0:0:0:0", "1:20:300:4000::"},
      // 4.2.1: "::" as long as possible.
      {"2001:db8:0:0:0::1", "2001:db8::1"},
      // 4.2.2: a single zero group is not compressed.
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      {"2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
      {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
      // 4.2.3: the longest run, the first one on a tie.
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      {"1:0:0:0:2:0:0:0", "1::2:0:0:0"},
      {"0:0:1:0:0:0:0:0", "0:0:1::"},
      {"0:0:1:0:0:2:0:0", "::1:0:0:2:0:0"},
      // 4.3: lowercase.
      {"2001:DB8::AAAA", "2001:db8::aaaa"},
      {"FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      // Ends and everything.
      {"0:0:0:0:0:0:0:0", "::"},
      {"0:0:0:0:0:0:0:1", "::1"},
      {"1:0:0:0:0:0:0:0", "1::"},
      // Section 5: IPv4-mapped keeps its dotted quad; other embeddings do not.
      {"0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"},
      {"::ffff:0.0.0.0", "::ffff:0.0.0.0"},
      {"::FFFF:255.255.255.255", "::ffff:255.255.255.255"},
      {"::1.2.3.4", "::102:304"},
      {"::fffe:1.2.3.4", "::fffe:102:304"},
      {"1::ffff:1.2.3.4", "1::ffff:102:304"},
      {"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
      // Scope ids: appended when non-zero, in plain decimal.
      {"fe80::1%2", "fe80::1%2"},
      {"fe80::1%0002", "fe80::1%2"},
      {"fe80::1%0", "fe80::1"},
      {"::ffff:1.2.3.4%9", "::ffff:1.2.3.4%9"},
  };
  for (const auto& r : rows) {
    auto e = endpoint::parse(r.in, 1);
    ASSERT_TRUE(e.has_value()) << r.in;
    EXPECT_EQ(e->address_string(), r.out) << r.in;
    EXPECT_EQ(e->to_string(), "[" + std::string(r.out) + "]:1") << r.in;
    expect_round_trip(*e);
  }
}

TEST(Endpoint, FormatsV4) {
  EXPECT_EQ(endpoint::v4({0, 0, 0, 0}, 0).address_string(), "0.0.0.0");
  EXPECT_EQ(endpoint::v4({10, 20, 30, 40}, 0).address_string(), "10.20.30.40");
  EXPECT_EQ(endpoint::v4({255, 255, 255, 255}, 65535).to_string(), "255.255.255.255:65535");
  EXPECT_EQ(endpoint::v4({1, 2, 3, 4}, 80).to_string(), "1.2.3.4:80");
}

// ---------------------------------------------------------------------------
// Invalid text

TEST(Endpoint, RejectsBadEndpoints) {
  using namespace std::string_view_literals;
  // One line per kind of mistake reads better than one string per line.
  // clang-format off
  const std::string_view bad[] = {
      // Empty parts and missing pieces.
      ""sv, ":"sv, ":80"sv, "1.2.3.4"sv, "1.2.3.4:"sv, "[]:80"sv, "[]"sv, "["sv, "]"sv, "[::1]"sv,
      "[::1]:"sv, "[::1]80"sv, "::1]:80"sv, "[::1:80"sv,
      // Ports.
      "1.2.3.4:65536"sv, "1.2.3.4:99999999999999999999"sv, "1.2.3.4:4294967376"sv, "1.2.3.4:-1"sv,
      "1.2.3.4:-0"sv, "1.2.3.4:+80"sv, "1.2.3.4:0x50"sv, "1.2.3.4:8a"sv, "1.2.3.4:80:"sv,
      "1.2.3.4:80:80"sv, "[::1]:80:"sv, "[::1]:65536"sv, "[::1]::80"sv, "1.2.3.4:8.0"sv,
      // Spaces anywhere.
      " 1.2.3.4:80"sv, "1.2.3.4:80 "sv, "1.2.3.4 :80"sv, "1.2.3.4: 80"sv, "1. 2.3.4:80"sv,
      "[ ::1]:80"sv, "[::1 ]:80"sv, "[::1] :80"sv, "[::1]: 80"sv, " [::1]:80"sv, "\t1.2.3.4:80"sv,
      "1.2.3.4:80\n"sv,
      // IPv4 shape.
      "01.2.3.4:80"sv, "1.02.3.4:80"sv, "1.2.3.00:80"sv, "1.2.3.000:80"sv, "256.1.1.1:80"sv,
      "1.2.3.256:80"sv, "999.1.1.1:80"sv, "1.2.3:80"sv, "1.2:80"sv, "1:80"sv, "1.2.3.4.5:80"sv,
      "1..3.4:80"sv, ".1.2.3.4:80"sv, "1.2.3.4.:80"sv, "1.2.3.1234:80"sv, "1.2.3.0004:80"sv,
      "0x1.2.3.4:80"sv, "a.b.c.d:80"sv, "1.2.3.4%1:80"sv, "localhost:80"sv, "1.2.3.-4:80"sv,
      "1.2.3.+4:80"sv,
      // Unbracketed IPv6 with a port is ambiguous.
      "::1:80"sv, "::1"sv, "fe80::1%2:80"sv, "1:2:3:4:5:6:7:8:80"sv, "::ffff:1.2.3.4:80"sv,
      // IPv4 inside brackets.
      "[1.2.3.4]:80"sv,
      // IPv6 shape.
      "[:::1]:80"sv, "[:::]:80"sv, "[1::2::3]:80"sv, "[::1::]:80"sv, "[1:2:3:4:5:6:7:8:9]:80"sv,
      "[1:2:3:4:5:6:7]:80"sv, "[1:2:3:4:5:6:7:8::]:80"sv, "[::1:2:3:4:5:6:7:8]:80"sv,
      "[1:2:3:4::5:6:7:8]:80"sv, "[12345::1]:80"sv, "[00000::1]:80"sv, "[g::1]:80"sv, "[:1::]:80"sv,
      "[:1]:80"sv, "[1:]:80"sv, "[1::2:]:80"sv, "[1:2:3:4:5:6:7:8:]:80"sv,
      "[:1:2:3:4:5:6:7:8]:80"sv, "[-1::]:80"sv, "[+1::]:80"sv,
      "[0x1::]:80"sv, "[[::1]]:80"sv, "[::1]]:80"sv, "[[::1]:80"sv, "[::1.]:80"sv,
      // Embedded IPv4 tail.
      "[::ffff:1.2.3]:80"sv, "[::ffff:1.2.3.4.5]:80"sv, "[::ffff:01.2.3.4]:80"sv,
      "[::ffff:256.2.3.4]:80"sv, "[::1.2.3.4:5]:80"sv, "[::1.2.3.4::]:80"sv,
      "[1:2:3:4:5:6:7:1.2.3.4]:80"sv, "[1:2:3:4:5:6:7:8:1.2.3.4]:80"sv, "[1:2:3:4:5:1.2.3.4]:80"sv,
      "[1:2:3:4:5:6:7::1.2.3.4]:80"sv, "[::a.2.3.4]:80"sv, "[::ffff:1.2.3.4.]:80"sv,
      "[1.2.3.4::]:80"sv, "[::1.2.3.4%]:80"sv,
      // Scope ids.
      "[fe80::1%]:80"sv, "[fe80::1%eth0]:80"sv, "[fe80::1%-1]:80"sv, "[fe80::1%+1]:80"sv,
      "[fe80::1%4294967296]:80"sv, "[fe80::1%99999999999999999999]:80"sv, "[fe80::1%1%2]:80"sv,
      "[%1]:80"sv, "[fe80::1% 1]:80"sv, "[fe80::1%1 ]:80"sv, "[fe80::1%25eth0]:80"sv,
      "[fe80::1]%1:80"sv,
      // Garbage and embedded NUL bytes.
      "1.2.3.4\0:80"sv, "1.2.3.4:80\0"sv, "1.2.3.4:\0"sv, "\0"sv, "\0001.2.3.4:80"sv,
      "[::1\0]:80"sv, "[::1]:8\0"sv, "\xff\xfe\xfd"sv, "1.2.3.4:\xef\xbc\x98\x30"sv,
      "\xc0\xae:80"sv, "[\xff::1]:80"sv,
  };
  // clang-format on
  for (std::string_view text : bad) {
    auto e = endpoint::parse(text);
    ASSERT_FALSE(e.has_value()) << '"' << text << "\" parsed as " << e->to_string();
    EXPECT_EQ(e.error(), corio::errc::invalid_endpoint) << text;
  }
}

TEST(Endpoint, RejectsBadBareAddresses) {
  using namespace std::string_view_literals;
  // One line per kind of mistake reads better than one string per line.
  // clang-format off
  const std::string_view bad[] = {
      ""sv, " "sv, "[::1]"sv, "[::1]:80"sv, "1.2.3.4:80"sv, " ::1"sv, "::1 "sv, "1.2.3.4%1"sv,
      "fe80::1%"sv, "fe80::1%x"sv, "fe80::1%4294967296"sv, "%1"sv, "01.1.1.1"sv, "1.2.3.4."sv,
      "1.2.3"sv, "::g"sv, ":::"sv, "1::2::3"sv, "::1\0"sv, "1.2.3.4\0"sv, "localhost"sv,
      "1.2.3.4/32"sv, "::/0"sv,
  };
  // clang-format on
  for (std::string_view text : bad) {
    auto e = endpoint::parse(text, 80);
    ASSERT_FALSE(e.has_value()) << '"' << text << "\" parsed as " << e->to_string();
    EXPECT_EQ(e.error(), corio::errc::invalid_endpoint) << text;
  }
}

TEST(Endpoint, RejectsHugeInput) {
  const std::string zeros(100000, '0');
  EXPECT_FALSE(endpoint::parse("1.2.3.4:" + zeros + "1x").has_value());
  EXPECT_FALSE(endpoint::parse("[" + zeros + "::1]:80").has_value());
  EXPECT_FALSE(endpoint::parse(std::string(100000, ':')).has_value());
  EXPECT_FALSE(endpoint::parse(std::string(100000, '[')).has_value());
  EXPECT_FALSE(endpoint::parse(std::string(100000, '.'), 1).has_value());
  // Leading zeros in a port are harmless, however many there are.
  auto e = endpoint::parse("1.2.3.4:" + zeros + "80");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->port(), 80);
}

// ---------------------------------------------------------------------------
// Round trips and bounded fuzzing

// A random v6 address whose groups are often zero, so that every shape of
// zero run (and IPv4-mapped addresses) turns up.
endpoint random_endpoint(std::mt19937& rng) {
  std::uniform_int_distribution<int> coin(0, 1);
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<unsigned> u16(0, 0xffff);
  std::uniform_int_distribution<std::uint32_t> u32;
  const auto port = static_cast<std::uint16_t>(u16(rng));
  if (kind(rng) == 0) {
    std::array<std::uint8_t, 4> a{};
    for (auto& b : a) b = static_cast<std::uint8_t>(u16(rng));
    return endpoint::v4(a, port);
  }
  std::array<std::uint16_t, 8> g{};
  for (auto& x : g) x = static_cast<std::uint16_t>(coin(rng) ? 0 : u16(rng) >> (u16(rng) % 16));
  if (kind(rng) == 0) g = {0, 0, 0, 0, 0, 0xffff, g[6], g[7]};
  const std::uint32_t scope = coin(rng) ? 0 : u32(rng) >> (u32(rng) % 32);
  return endpoint::v6(groups(g), port, scope);
}

TEST(Endpoint, RandomEndpointsRoundTrip) {
  std::mt19937 rng(12345);
  for (int k = 0; k < 20000; ++k) {
    const endpoint e = random_endpoint(rng);
    expect_round_trip(e);
    if (testing::Test::HasFailure()) return;
  }
}

// Random short strings from the bytes endpoint text is made of: parse must
// fail cleanly or give a value that round-trips.
void check_any(std::string_view text) {
  auto e = endpoint::parse(text);
  if (e.has_value()) {
    expect_round_trip(*e);
  } else {
    EXPECT_EQ(e.error(), corio::errc::invalid_endpoint) << text;
  }
  for (std::uint16_t port : {std::uint16_t{0}, std::uint16_t{65535}}) {
    auto a = endpoint::parse(text, port);
    if (a.has_value()) {
      EXPECT_EQ(a->port(), port);
      expect_round_trip(*a);
    } else {
      EXPECT_EQ(a.error(), corio::errc::invalid_endpoint) << text;
    }
  }
}

TEST(Endpoint, FuzzRandomStrings) {
  static constexpr std::string_view alphabet = "0123456789abcdefABCDEF:.[]%";
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<std::size_t> len(0, 24);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  for (int k = 0; k < 20000; ++k) {
    std::string s(len(rng), ' ');
    for (char& c : s) c = alphabet[pick(rng)];
    check_any(s);
    if (testing::Test::HasFailure()) return;
  }
}

TEST(Endpoint, FuzzRandomBytes) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> len(0, 16);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int k = 0; k < 20000; ++k) {
    std::string s(len(rng), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    check_any(s);
    if (testing::Test::HasFailure()) return;
  }
}

// Small edits to valid text reach the edges of the grammar far more often
// than random strings do.
TEST(Endpoint, FuzzMutatedValidText) {
  static constexpr std::string_view alphabet = "0123456789abcdef:.[]%";
  const std::vector<std::string> seeds = {
      "1.2.3.4:80",
      "255.255.255.255:65535",
      "[::1]:80",
      "[fe80::1%2]:80",
      "[1:2:3:4:5:6:7:8]:9",
      "[::ffff:1.2.3.4]:80",
      "[1::]:0",
      "[2001:db8::1:0:0:1]:443",
      "[::]:1",
      "[1:2:3:4:5:6:1.2.3.4]:7",
      "0.0.0.0:0",
      "[a:b::c:d%4294967295]:65535",
  };
  std::mt19937 rng(99);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> op(0, 2);
  std::uniform_int_distribution<int> edits(1, 3);
  int parsed = 0;
  for (int k = 0; k < 20000; ++k) {
    std::string s = seeds[static_cast<std::size_t>(k) % seeds.size()];
    for (int n = edits(rng); n > 0; --n) {
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, s.size())(rng);
      switch (op(rng)) {
        case 0:
          s.insert(at, 1, alphabet[pick(rng)]);
          break;
        case 1:
          if (at < s.size()) s.erase(at, 1);
          break;
        default:
          if (at < s.size()) s[at] = alphabet[pick(rng)];
          break;
      }
    }
    parsed += endpoint::parse(s).has_value() ? 1 : 0;
    check_any(s);
    if (testing::Test::HasFailure()) return;
  }
  // The mutations must exercise both sides, or this test checks nothing.
  EXPECT_GT(parsed, 1000);
  EXPECT_LT(parsed, 19000);
}

#if CORIO_TEST_HAVE_INET

// inet_pton and corio agree on what an address is (glibc's inet_pton also
// rejects leading zeros in a dotted quad); scope ids are corio's alone.
void expect_agrees_with_inet_pton(const std::string& text) {
  std::uint8_t buf[16] = {};
  const bool v4 = inet_pton(AF_INET, text.c_str(), buf) == 1;
  const bool v6 = !v4 && inet_pton(AF_INET6, text.c_str(), buf) == 1;
  auto e = endpoint::parse(text, 1);
  ASSERT_EQ(e.has_value(), v4 || v6) << text;
  if (!e) return;
  EXPECT_EQ(e->is_v4(), v4) << text;
  for (std::size_t k = 0; k < (v4 ? 4u : 16u); ++k) EXPECT_EQ(e->bytes()[k], buf[k]) << text;
}

TEST(Endpoint, AgreesWithInetPton) {
  static constexpr std::string_view alphabet = "0123456789abcdefABCDEF:.:.";
  const std::vector<std::string> seeds = {"1.2.3.4",           "::1", "1:2:3:4:5:6:7:8",
                                          "::ffff:1.2.3.4",    "1::", "1:2:3:4:5:6:1.2.3.4",
                                          "2001:db8::1:0:0:1", "::",  "255.255.255.255"};
  std::mt19937 rng(4242);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> len(0, 20);
  std::uniform_int_distribution<int> op(0, 2);
  for (int k = 0; k < 20000; ++k) {
    std::string s;
    if (k % 2 == 0) {
      s.resize(len(rng));
      for (char& c : s) c = alphabet[pick(rng)];
    } else {
      s = seeds[static_cast<std::size_t>(k / 2) % seeds.size()];
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, s.size())(rng);
      switch (op(rng)) {
        case 0:
          s.insert(at, 1, alphabet[pick(rng)]);
          break;
        case 1:
          if (at < s.size()) s.erase(at, 1);
          break;
        default:
          if (at < s.size()) s[at] = alphabet[pick(rng)];
          break;
      }
    }
    expect_agrees_with_inet_pton(s);
    if (testing::Test::HasFailure()) return;
  }
}

// glibc's inet_ntop follows RFC 5952 too, except that it prints the
// deprecated IPv4-compatible form (::1.2.3.4), so those addresses are skipped.
TEST(Endpoint, AgreesWithInetNtop) {
  std::mt19937 rng(31337);
  for (int k = 0; k < 20000; ++k) {
    const endpoint e = random_endpoint(rng);
    if (e.is_v4()) continue;
    bool compat = true;
    for (int b = 0; b < 10; ++b) compat = compat && e.bytes()[b] == 0;
    if (compat && !(e.bytes()[10] == 0xff && e.bytes()[11] == 0xff)) continue;
    char buf[64];
    ASSERT_NE(inet_ntop(AF_INET6, e.bytes().data(), buf, sizeof buf), nullptr);
    const endpoint unscoped = endpoint::v6(e.bytes(), 0);
    EXPECT_EQ(unscoped.address_string(), buf);
    if (testing::Test::HasFailure()) return;
  }
}

#endif  // CORIO_TEST_HAVE_INET

}  // namespace
