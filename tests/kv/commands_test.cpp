// tests/kv/commands_test.cpp: every kv_server command's replies and errors,
// byte for byte, as Redis answers them (written from the Redis command
// reference, and checked against redis-server 7.0 while writing them).
// Runs the command layer directly with an injected clock: expiry is tested
// by moving time, never by waiting.
#include <gtest/gtest.h>

#include <atomic>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kv_server/commands.hpp"

namespace {

class KvCommands : public ::testing::Test {
 protected:
  std::atomic<std::int64_t> now{1'000'000'000};
  kv::context ctx{kv::options{.shards = 8}, [this] { return now.load(); }};
  kv::session s{7};

  std::string run(std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> v(args);
    std::string out;
    kv::execute(ctx, s, v, out);
    return out;
  }
  // Expects each command's reply in turn: {command..., reply}.
  void expect(std::initializer_list<std::pair<std::initializer_list<std::string_view>, std::string_view>> cases) {
    for (const auto& [cmd, want] : cases) {
      std::string shown;
      for (auto a : cmd) shown.append(a).append(" ");
      EXPECT_EQ(run(cmd), want) << shown;
    }
  }
};

constexpr std::string_view nil = "$-1\r\n";
constexpr std::string_view ok = "+OK\r\n";
constexpr std::string_view not_int = "-ERR value is not an integer or out of range\r\n";
constexpr std::string_view syntax = "-ERR syntax error\r\n";

TEST_F(KvCommands, Connection) {
  expect({
      {{"PING"}, "+PONG\r\n"},
      {{"ping", "hello"}, "$5\r\nhello\r\n"},
      {{"ping", "a", "b"}, "-ERR wrong number of arguments for 'ping' command\r\n"},
      {{"echo"}, "-ERR wrong number of arguments for 'echo' command\r\n"},
      {{"ECHO", "hi"}, "$2\r\nhi\r\n"},
      {{"select", "0"}, ok},
      {{"select", "x"}, not_int},
      {{"select", "1"}, "-ERR DB index is out of range\r\n"},
      {{"client", "id"}, ":7\r\n"},
      {{"client", "id", "x"}, "-ERR wrong number of arguments for 'client|id' command\r\n"},
      {{"client", "getname"}, nil},
      {{"client", "setname", "a b"},
       "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
      {{"client", "setname", "bob"}, ok},
      {{"client", "getname"}, "$3\r\nbob\r\n"},
      {{"client", "foo"}, "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"},
      {{"client"}, "-ERR wrong number of arguments for 'client' command\r\n"},
      {{"hello", "3"}, "-NOPROTO unsupported protocol version\r\n"},
      {{"hello", "4"}, "-NOPROTO unsupported protocol version\r\n"},
      {{"hello", "x"}, "-ERR Protocol version is not an integer or out of range\r\n"},
      {{"hello", "2", "setname"}, "-ERR Syntax error in HELLO option 'setname'\r\n"},
      {{"hello", "2", "setname", "ann"},
       "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:2\r\n"
       "$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
       "$7\r\nmodules\r\n*0\r\n"},
      {{"client", "getname"}, "$3\r\nann\r\n"},
      {{"foo"}, "-ERR unknown command 'foo', with args beginning with: \r\n"},
      {{"FOO", "a", "b\r\nc"}, "-ERR unknown command 'FOO', with args beginning with: 'a' 'b  c' \r\n"},
  });
  EXPECT_EQ(run({"quit"}), ok);
  EXPECT_TRUE(s.quit);
}

TEST_F(KvCommands, Server) {
  expect({
      {{"dbsize"}, ":0\r\n"},
      {{"config", "get", "save"}, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
      {{"config", "get", "appendonly"}, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"},
      {{"CONFIG", "GET", "nothing"}, "*0\r\n"},
      {{"config", "get"}, "-ERR wrong number of arguments for 'config|get' command\r\n"},
      {{"config", "foo"}, "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n"},
      {{"command", "foo"}, "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n"},
      {{"flushall", "x"}, syntax},
      {{"flushdb", "a", "b"}, syntax},
      {{"flushdb", "async"}, ok},
  });
  EXPECT_EQ(run({"command", "count"}), ":" + std::to_string(kv::command_count()) + "\r\n");
  // COMMAND DOCS GET: a flat map, name -> summary / since / group.
  EXPECT_EQ(run({"command", "docs", "get"}),
            "*2\r\n$3\r\nget\r\n*6\r\n$7\r\nsummary\r\n$34\r\nReturns the string value of a key.\r\n"
            "$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n");
  run({"set", "a", "1"});
  run({"set", "b", "1"});
  run({"expire", "b", "100"});
  const auto info = run({"info"});
  EXPECT_NE(info.find("# Server\r\nredis_version:"), std::string::npos);
  EXPECT_NE(info.find("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n"), std::string::npos);
  const auto only_keyspace = run({"info", "keyspace"});
  EXPECT_EQ(only_keyspace.find("# Server"), std::string::npos);
  EXPECT_NE(only_keyspace.find("db0:keys=2"), std::string::npos);
}

TEST_F(KvCommands, GetSet) {
  expect({
      {{"get"}, "-ERR wrong number of arguments for 'get' command\r\n"},
      {{"get", "a"}, nil},
      {{"set", "a"}, "-ERR wrong number of arguments for 'set' command\r\n"},
      {{"set", "a", "1"}, ok},
      {{"set", "a", "2", "nx"}, nil},
      {{"set", "a", "2", "xx"}, ok},
      {{"set", "a", "3", "xx", "get"}, "$1\r\n2\r\n"},
      {{"set", "b", "3", "nx", "get"}, nil},
      {{"get", "b"}, "$1\r\n3\r\n"},
      {{"set", "b", "4", "get", "nx"}, "$1\r\n3\r\n"},
      {{"set", "c", "1", "ex", "10", "px", "10"}, syntax},
      {{"set", "c", "1", "keepttl", "ex", "10"}, syntax},
      {{"set", "c", "1", "ex", "10", "keepttl"}, syntax},
      {{"set", "c", "1", "nx", "xx"}, syntax},
      {{"set", "c", "1", "ex"}, syntax},
      {{"set", "c", "1", "foo"}, syntax},
      {{"set", "c", "1", "ex", "x"}, not_int},
      {{"set", "c", "1", "ex", "-1"}, "-ERR invalid expire time in 'set' command\r\n"},
      {{"set", "c", "1", "px", "0"}, "-ERR invalid expire time in 'set' command\r\n"},
      {{"set", "c", "1", "ex", "9223372036854775807"}, "-ERR invalid expire time in 'set' command\r\n"},
      {{"get", "c"}, nil},
      {{"getdel", "a"}, "$1\r\n3\r\n"},
      {{"getdel", "a"}, nil},
      {{"mget", "a", "b", "c"}, "*3\r\n$-1\r\n$1\r\n3\r\n$-1\r\n"},
      {{"mset", "a"}, "-ERR wrong number of arguments for 'mset' command\r\n"},
      {{"mset", "a", "1", "b"}, "-ERR wrong number of arguments for 'mset' command\r\n"},
      {{"mset", "a", "1", "b", "2"}, ok},
      {{"mget", "a", "b"}, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"},
      {{"exists", "a", "b", "a", "zz"}, ":3\r\n"},
      {{"del", "a", "b", "c"}, ":2\r\n"},
      {{"exists", "a"}, ":0\r\n"},
      {{"append", "s", "abc"}, ":3\r\n"},
      {{"append", "s", "de"}, ":5\r\n"},
      {{"strlen", "s"}, ":5\r\n"},
      {{"strlen", "none"}, ":0\r\n"},
      {{"get", "s"}, "$5\r\nabcde\r\n"},
  });
}

TEST_F(KvCommands, Counters) {
  expect({
      {{"incr", "n"}, ":1\r\n"},
      {{"incr", "n"}, ":2\r\n"},
      {{"decr", "n"}, ":1\r\n"},
      {{"incrby", "n", "10"}, ":11\r\n"},
      {{"decrby", "n", "20"}, ":-9\r\n"},
      {{"incrby", "n", "x"}, not_int},
      {{"decrby", "n", "-9223372036854775808"}, "-ERR decrement would overflow\r\n"},
      {{"set", "big", "9223372036854775807"}, ok},
      {{"incr", "big"}, "-ERR increment or decrement would overflow\r\n"},
      {{"set", "neg", "-9223372036854775808"}, ok},
      {{"decr", "neg"}, "-ERR increment or decrement would overflow\r\n"},
  });
  for (std::string_view bad : {"x", "0x10", " 1", "01", "-0", "1.5", ""}) {
    run({"set", "s", bad});
    EXPECT_EQ(run({"incr", "s"}), not_int) << bad;
  }
}

TEST_F(KvCommands, ExpiryWithAnInjectedClock) {
  expect({
      {{"set", "e", "v"}, ok},
      {{"ttl", "e"}, ":-1\r\n"},
      {{"ttl", "none"}, ":-2\r\n"},
      {{"pttl", "none"}, ":-2\r\n"},
      {{"expire", "e"}, "-ERR wrong number of arguments for 'expire' command\r\n"},
      {{"expire", "e", "x"}, not_int},
      {{"expire", "e", "100", "foo"}, "-ERR Unsupported option foo\r\n"},
      {{"expire", "e", "100", "nx", "xx"},
       "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"},
      {{"expire", "e", "100", "gt", "lt"}, "-ERR GT and LT options at the same time are not compatible\r\n"},
      {{"expire", "e", "100", "xx"}, ":0\r\n"},
      {{"expire", "e", "100", "gt"}, ":0\r\n"},
      {{"expire", "e", "100", "nx"}, ":1\r\n"},
      {{"expire", "e", "100", "nx"}, ":0\r\n"},
      {{"expire", "e", "200", "gt"}, ":1\r\n"},
      {{"expire", "e", "50", "lt"}, ":1\r\n"},
      {{"expire", "e", "9223372036854775807"}, "-ERR invalid expire time in 'expire' command\r\n"},
      {{"pexpire", "e", "9223372036854775807"}, "-ERR invalid expire time in 'pexpire' command\r\n"},
      {{"ttl", "e"}, ":50\r\n"},
      {{"pttl", "e"}, ":50000\r\n"},
      {{"expire", "none", "10"}, ":0\r\n"},
  });
  now += 20'400;  // 29.6 s left: TTL rounds to 30
  expect({{{"ttl", "e"}, ":30\r\n"}, {{"pttl", "e"}, ":29600\r\n"}});
  now += 29'600;  // exactly due: gone on access (lazy expiry)
  expect({{{"get", "e"}, nil}, {{"ttl", "e"}, ":-2\r\n"}, {{"dbsize"}, ":0\r\n"}});
  EXPECT_EQ(ctx.db.expired_keys(), 1u);

  // PERSIST, SET's KEEPTTL, and SET without it.
  expect({
      {{"set", "p", "v", "px", "1500"}, ok},
      {{"pttl", "p"}, ":1500\r\n"},
      {{"set", "p", "w", "keepttl"}, ok},
      {{"pttl", "p"}, ":1500\r\n"},
      {{"incr", "q"}, ":1\r\n"},
      {{"persist", "p"}, ":1\r\n"},
      {{"persist", "p"}, ":0\r\n"},
      {{"ttl", "p"}, ":-1\r\n"},
      {{"set", "p", "v", "ex", "5"}, ok},
      {{"set", "p", "v"}, ok},
      {{"ttl", "p"}, ":-1\r\n"},
      {{"expire", "p", "-1"}, ":1\r\n"},  // a time in the past deletes
      {{"exists", "p"}, ":0\r\n"},
  });
  const auto at = std::to_string(now.load() / 1000 + 3);
  expect({{{"set", "x", "v", "exat", at}, ok}});
  EXPECT_EQ(run({"ttl", "x"}), ":3\r\n");
}

TEST_F(KvCommands, ActiveExpiryCollectsKeysNobodyReads) {
  for (int i = 0; i < 1000; ++i) {
    const auto k = "k" + std::to_string(i);
    run({"set", k, "v", "px", i % 2 ? "100" : "100000"});
  }
  run({"set", "forever", "v"});
  EXPECT_EQ(ctx.db.size(), 1001u);
  EXPECT_EQ(ctx.db.expires(), 1000u);
  now += 101;
  // Cycles like the timer's: each samples and deletes; half are due.
  std::size_t deleted = 0;
  for (int cycle = 0; cycle < 200 && deleted < 500; ++cycle) deleted += ctx.db.active_expire_cycle();
  EXPECT_EQ(deleted, 500u);
  EXPECT_EQ(ctx.db.size(), 501u);
  EXPECT_EQ(run({"ttl", "k0"}), ":100\r\n");
  EXPECT_EQ(run({"ttl", "forever"}), ":-1\r\n");
}

TEST_F(KvCommands, KeysAndScan) {
  for (std::string_view k : {"user:1", "user:2", "user:10", "order:1", "x"}) run({"set", k, "v"});
  run({"set", "user:3", "v", "px", "10"});
  now += 10;  // user:3 is expired but not yet collected: never listed
  auto keys_of = [](const std::string& reply) {
    std::multiset<std::string> keys;
    std::size_t at = reply.find("\r\n") + 2;
    while (at < reply.size()) {
      if (reply[at] == '*') {  // a nested array header (SCAN)
        at = reply.find("\r\n", at) + 2;
        continue;
      }
      const auto len = std::stoul(reply.substr(at + 1));
      at = reply.find("\r\n", at) + 2;
      keys.insert(reply.substr(at, len));
      at += len + 2;
    }
    return keys;
  };
  EXPECT_EQ(keys_of(run({"keys", "user:?"})), (std::multiset<std::string>{"user:1", "user:2"}));
  EXPECT_EQ(keys_of(run({"keys", "*"})).size(), 5u);
  EXPECT_EQ(run({"keys", "nothing*"}), "*0\r\n");
  expect({
      {{"keys"}, "-ERR wrong number of arguments for 'keys' command\r\n"},
      {{"scan"}, "-ERR wrong number of arguments for 'scan' command\r\n"},
      {{"scan", "x"}, "-ERR invalid cursor\r\n"},
      {{"scan", "0", "count", "0"}, syntax},
      {{"scan", "0", "count", "x"}, not_int},
      {{"scan", "0", "match"}, syntax},
      {{"scan", "0", "foo", "bar"}, syntax},
  });
  // A full iteration, a few keys at a time, returns every key once.
  std::multiset<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    const auto r = run({"scan", cursor, "match", "user:*", "count", "2"});
    ASSERT_TRUE(r.starts_with("*2\r\n$")) << r;
    const auto len = std::stoul(r.substr(5));
    const auto start = r.find("\r\n", 4) + 2;
    cursor = r.substr(start, len);
    auto page = keys_of(r.substr(start + len + 2 - 4));  // skip to the inner array
    seen.insert(page.begin(), page.end());
    ASSERT_LT(++calls, 1000);
  } while (cursor != "0");
  EXPECT_EQ(seen, (std::multiset<std::string>{"user:1", "user:2", "user:10"}));
  EXPECT_TRUE(run({"scan", "0", "type", "hash", "count", "1000"}).ends_with("*0\r\n"));
  expect({{{"flushall"}, ok}, {{"dbsize"}, ":0\r\n"}});
}

TEST_F(KvCommands, PubSubOutsideSubscribedMode) {
  expect({
      {{"unsubscribe"}, "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"},
      {{"punsubscribe"}, "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"},
      {{"unsubscribe", "a", "b"},
       "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n"},
      {{"publish"}, "-ERR wrong number of arguments for 'publish' command\r\n"},
      {{"publish", "ch", "msg"}, ":0\r\n"},
  });
}

TEST_F(KvCommands, SubscribedModeAllowsOnlyPubSubCommands) {
  std::string out;
  std::vector<std::string_view> sub = {"subscribe", "a", "b"};
  kv::execute(ctx, s, sub, out);
  ASSERT_TRUE(s.sub);
  EXPECT_TRUE(out.empty());  // replies go through the subscriber's channel
  auto next = [&] {
    auto m = s.sub->out.try_receive();
    return m ? **m : std::string("<none>");
  };
  EXPECT_EQ(next(), "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
  EXPECT_EQ(next(), "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
  EXPECT_EQ(run({"get", "a"}),
            "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
            "are allowed in this context\r\n");
  EXPECT_EQ(run({"ping"}), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  kv::session other(8);
  std::string pub;
  std::vector<std::string_view> publish = {"publish", "a", "hi"};
  kv::execute(ctx, other, publish, pub);
  EXPECT_EQ(pub, ":1\r\n");
  EXPECT_EQ(next(), "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
  run({"psubscribe", "a*"});
  EXPECT_EQ(next(), "*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:3\r\n");
  pub.clear();
  kv::execute(ctx, other, publish, pub);
  EXPECT_EQ(pub, ":2\r\n");  // once for the channel, once for the pattern
  EXPECT_EQ(next(), "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
  EXPECT_EQ(next(), "*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$2\r\nhi\r\n");
  run({"unsubscribe"});
  std::set<std::string> unsubs = {next(), next()};
  EXPECT_EQ(unsubs, (std::set<std::string>{"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n",
                                           "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n"}) );
  run({"punsubscribe"});
  EXPECT_EQ(next(), "*3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:0\r\n");
  // Out of subscribed mode: ordinary commands again (the connection
  // delivers their replies through the channel, in order).
  EXPECT_EQ(run({"get", "a"}), "$-1\r\n");
  ctx.ps.unsubscribe_all(*s.sub);
}

}  // namespace
