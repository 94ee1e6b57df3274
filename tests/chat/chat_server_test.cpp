// tests/chat/chat_server_test.cpp: the chat demo's server (compiled in from
// demos/chat_server/chat.cpp), driven over loopback by test clients:
// delivery under churn, the slow-client policy, bad input, shutdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "../../demos/chat_server/chat.hpp"
#include "support/loopback.hpp"
#include "support/run.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class chat_test : public runtime_test {};

// One client connection, read line by line.
class client {
 public:
  explicit client(net::tcp_stream s) : stream_(std::move(s)) {}

  static task<client> connect(std::uint16_t port) {
    auto s = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(port));
    EXPECT_TRUE(s) << s.error().message();
    co_return client(s ? std::move(*s) : net::tcp_stream{});
  }

  // Sends `text` as is (the caller adds the newlines).
  task<void> send(std::string text) {
    auto r = co_await stream_.write_all(std::as_bytes(std::span(text)));
    EXPECT_TRUE(r) << r.error().message();
  }

  // The next line without its "\n"; nullopt at EOF or on an error. A last
  // line cut short by the close comes back too.
  task<std::optional<std::string>> line() {
    for (;;) {
      if (auto nl = buf_.find('\n', pos_); nl != std::string::npos) {
        std::string l = buf_.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        co_return l;
      }
      if (eof_) {
        if (pos_ == buf_.size()) co_return std::nullopt;
        std::string l = buf_.substr(pos_);
        pos_ = buf_.size();
        co_return l;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      std::array<char, 16384> chunk;
      auto n = co_await stream_.read(chunk);
      if (!n || *n == 0) {
        eof_ = true;
      } else {
        buf_.append(chunk.data(), *n);
      }
    }
  }

  // Reads lines, handing each to `seen`, until one starts with `prefix`.
  template <class F>
  task<std::optional<std::string>> until(std::string_view prefix, F seen) {
    while (auto l = co_await line()) {
      seen(*l);
      if (l->starts_with(prefix)) co_return l;
    }
    ADD_FAILURE() << "connection ended while waiting for '" << prefix << "'";
    co_return std::nullopt;
  }
  task<std::optional<std::string>> until(std::string_view prefix) {
    return until(prefix, [](const std::string&) {});
  }

  // Sends `command` and returns the next line (its answer).
  task<std::string> ask(std::string command) {
    co_await send(std::move(command));
    auto l = co_await line();
    EXPECT_TRUE(l.has_value());
    co_return l.value_or("<closed>");
  }

  net::tcp_stream& stream() { return stream_; }

 private:
  net::tcp_stream stream_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
};

// A server on a loopback port, served from a scope until stop().
class test_server {
 public:
  explicit test_server(chat::options o) : srv(o), listener_(listen_loopback()) {}
  std::uint16_t port() const { return port_of(listener_); }
  void start(scope& s) { s.spawn(srv.serve(listener_, stop_.get_token())); }
  void stop() { stop_.request_stop(); }
  chat::server srv;

 private:
  net::tcp_listener listener_;
  std::stop_source stop_;
};

int int_after(std::string_view s, std::string_view prefix) {
  int v = -1;
  if (s.starts_with(prefix)) {
    s.remove_prefix(prefix.size());
    std::from_chars(s.data(), s.data() + s.size(), v);
  }
  return v;
}

task<void> until_no_connections(chat::server& srv) {
  while (srv.connections() != 0) co_await yield();
}

// ---- Churn: 200 clients, 4 rooms, 50 lines each -------------------------------

constexpr int churn_clients = 200, churn_rooms = 4, churn_lines = 50;

// What one client's stream said, in order.
struct churn_log {
  int id = 0;
  int room = -1;
  std::set<int> members;                               // of `room`, by its stream
  std::vector<std::pair<int, int>> received;           // (sender, seq), in arrival order
  std::vector<std::pair<int, std::vector<int>>> sent;  // (seq, members when it went out)
  int lines = 0;
};

// Parses one server line into the log. Presence is defined by the server's
// own acknowledgements: the room's mutex orders the joiner's "OK joined",
// the others' "* X joined/left" notices and every broadcast, so the members
// a sender's stream shows just before its own echo are exactly the
// connections the server gave that line to.
void record(churn_log& log, std::string_view l) {
  ++log.lines;
  if (l.starts_with("OK joined r")) {
    log.room = int_after(l, "OK joined r");
    log.members.clear();
    auto list = l.substr(l.find("members:") + 8);
    for (std::size_t at = list.find(" c"); at != std::string_view::npos; at = list.find(" c", at + 1)) {
      log.members.insert(int_after(list.substr(at), " c"));
    }
  } else if (l.starts_with("OK left r")) {
    log.room = -1;
    log.members.clear();
  } else if (l.starts_with("* c")) {
    const int who = int_after(l, "* c");
    if (auto at = l.find(" joined r"); at != std::string_view::npos) {
      if (int_after(l.substr(at), " joined r") == log.room) log.members.insert(who);
    } else if (auto at2 = l.find(" left r"); at2 != std::string_view::npos) {
      if (int_after(l.substr(at2), " left r") == log.room) log.members.erase(who);
    }
  } else if (l.starts_with("c") && l.find(": m ") != std::string_view::npos) {
    auto body = l.substr(l.find(": m ") + 4);
    int sender = -1, seq = -1;
    auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), sender);
    std::from_chars(p + 1, body.data() + body.size(), seq);
    log.received.emplace_back(sender, seq);
    if (sender == log.id) {
      log.sent.emplace_back(seq, std::vector<int>(log.members.begin(), log.members.end()));
    }
  } else if (l.starts_with("ERR")) {
    ADD_FAILURE() << "client c" << log.id << " got: " << l;
  }
}

task<void> churn_client(std::uint16_t port, int id, std::uint32_t seed, churn_log& log) {
  log.id = id;
  std::mt19937 rng(seed * 7919u + static_cast<std::uint32_t>(id));
  auto rec = [&log](const std::string& l) { record(log, l); };
  // Stagger the arrivals (turns of the run queue, not time).
  for (auto n = rng() % 32; n > 0; --n) co_await yield();
  auto c = co_await client::connect(port);
  co_await c.until("OK welcome");
  co_await c.send("/nick c" + std::to_string(id) + "\n");
  co_await c.until("OK nick", rec);
  int room = static_cast<int>(rng() % churn_rooms);
  co_await c.send("/join r" + std::to_string(room) + "\n");
  co_await c.until("OK joined", rec);
  for (int k = 0; k < churn_lines; ++k) {
    const auto dice = rng() % 100;
    if (dice < 10) {  // move to another room
      room = static_cast<int>((static_cast<unsigned>(room) + 1 + rng() % (churn_rooms - 1)) % churn_rooms);
      co_await c.send("/join r" + std::to_string(room) + "\n");
      co_await c.until("OK joined", rec);
    } else if (dice < 15) {  // leave, wait a little, come back somewhere
      co_await c.send("/leave\n");
      co_await c.until("OK left", rec);
      for (auto n = rng() % 8; n > 0; --n) co_await yield();
      room = static_cast<int>(rng() % churn_rooms);
      co_await c.send("/join r" + std::to_string(room) + "\n");
      co_await c.until("OK joined", rec);
    }
    const std::string text = "m " + std::to_string(id) + " " + std::to_string(k);
    co_await c.send(text + "\n");
    // One line in flight per client: the next goes after its own echo.
    co_await c.until("c" + std::to_string(id) + ": " + text, rec);
  }
  co_await c.send("/quit\n");
  co_await c.until("BYE", rec);
  auto after = co_await c.line();
  EXPECT_FALSE(after.has_value()) << "after BYE: " << *after;
}

TEST_F(chat_test, ChurnDeliversEveryLineToEveryPresentMemberOnceAndInOrder) {
  // Open bug (docs/fault-injection.md, end of "The soak"): under Wine on a loaded machine
  // five of 80 connections once ended without BYE and without any error the
  // server counted, losing the lines after that point. The chat server
  // under Wine is still soaked with faults injected (iocp.soak).
  if (rt.backend() == backend_kind::iocp)
    GTEST_SKIP() << "IOCP under Wine: connections ended early once under load (open bug)";
  constexpr std::uint32_t seed = 20240607;
  std::vector<churn_log> logs(churn_clients);
  std::uint64_t slow = 1;
  std::int64_t left = -1;
  run(
      [](std::vector<churn_log>& logs, std::uint64_t& slow, std::int64_t& left) -> task<void> {
        // A queue larger than all the lines one client can be sent in this
        // test, so the slow-client policy cannot fire (checked below).
        test_server server({.queue_bytes = std::size_t{64} << 20});
        scope s, clients;
        server.start(s);
        for (int i = 0; i < churn_clients; ++i) {
          clients.spawn(churn_client(server.port(), i, seed, logs[static_cast<std::size_t>(i)]));
        }
        co_await clients.join();
        co_await until_no_connections(server.srv);
        EXPECT_EQ(server.srv.rooms(), 0u);
        server.stop();
        co_await s.join();
        slow = server.srv.slow_disconnects();
        left = server.srv.connections();
        EXPECT_EQ(server.srv.accepted(), static_cast<std::uint64_t>(churn_clients));
      }(logs, slow, left),
      std::chrono::seconds(60));
  EXPECT_EQ(slow, 0u);
  EXPECT_EQ(left, 0);

  // Who the server gave each line to, by the senders' streams.
  std::map<int, std::set<std::pair<int, int>>> expected;  // receiver -> (sender, seq)
  std::size_t lines_sent = 0;
  for (auto& log : logs) {
    EXPECT_EQ(log.sent.size(), static_cast<std::size_t>(churn_lines)) << "client c" << log.id;
    lines_sent += log.sent.size();
    for (auto& [seq, members] : log.sent) {
      EXPECT_TRUE(std::ranges::binary_search(members, log.id));
      for (int m : members) expected[m].emplace(log.id, seq);
    }
  }
  EXPECT_EQ(lines_sent, static_cast<std::size_t>(churn_clients * churn_lines));
  std::size_t deliveries = 0;
  for (auto& log : logs) {
    // In order: each sender's lines arrive with increasing sequence numbers
    // (so none twice).
    std::map<int, int> last;
    for (auto [sender, seq] : log.received) {
      auto [it, fresh] = last.emplace(sender, seq);
      if (!fresh) {
        EXPECT_GT(seq, it->second) << "c" << log.id << " got c" << sender << "'s #" << seq
                                   << " after #" << it->second;
        it->second = seq;
      }
    }
    // Exactly the lines sent while it was present.
    std::set<std::pair<int, int>> got(log.received.begin(), log.received.end());
    EXPECT_EQ(got.size(), log.received.size()) << "c" << log.id << " got a line twice";
    const auto& want = expected[log.id];
    if (got != want) {
      std::vector<std::pair<int, int>> missing, extra;
      std::ranges::set_difference(want, got, std::back_inserter(missing));
      std::ranges::set_difference(got, want, std::back_inserter(extra));
      ADD_FAILURE() << "c" << log.id << ": " << missing.size() << " lines missing (first c"
                    << (missing.empty() ? -1 : missing[0].first) << "#"
                    << (missing.empty() ? -1 : missing[0].second) << "), " << extra.size()
                    << " unexpected";
    }
    deliveries += log.received.size();
  }
  // Sanity: the churn still left rooms busy (about 50 members each).
  EXPECT_GT(deliveries, lines_sent * 10);
}

// ---- The slow-client policy ----------------------------------------------------

TEST_F(chat_test, SlowReaderIsDisconnectedWhileTheRoomKeepsFlowing) {
  run(
      []() -> task<void> {
        test_server server({.queue_bytes = 64 * 1024, .goodbye_timeout = 200ms});
        scope s;
        server.start(s);
        auto slow = co_await client::connect(server.port());
        co_await slow.send("/nick slow\n/join room\n");
        co_await slow.until("OK joined");
        auto a = co_await client::connect(server.port());
        co_await a.send("/nick a\n/join room\n");
        co_await a.until("OK joined room members: slow a");
        auto b = co_await client::connect(server.port());
        co_await b.send("/nick b\n/join room\n");
        co_await b.until("OK joined room members: slow a b");

        // Line 0 reaches all three: slow is a member that was served. From
        // then on slow reads nothing. (Without this, a worker thread that the
        // OS leaves off the CPU for a few milliseconds would let slow's queue
        // fill before its writer ever ran, and slow would get no whole line.)
        const std::string pad(3000, 'x');
        co_await a.send("0 " + pad + "\n");
        for (auto* c : {&a, &b, &slow}) EXPECT_EQ(co_await c->until("a: "), "a: 0 " + pad);

        // a sends big lines, one at a time, until the room says slow is
        // gone. b reads each line before a sends the next (lockstep, so
        // that b's queue holds a line or two however the workers are
        // scheduled).
        int sent = 1;
        bool a_saw_kick = false, b_saw_kick = false;
        while (!a_saw_kick) {
          CO_ASSERT(sent < 200000);
          const std::string line = std::to_string(sent) + " " + pad;
          co_await a.send(line + "\n");
          auto echo = co_await a.until("a: " + line, [&a_saw_kick](const std::string& l) {
            if (l == "* slow left room (too slow)") a_saw_kick = true;
          });
          CO_ASSERT(echo);
          // The room kept flowing: b gets every line, in order.
          auto got = co_await b.until("a: ", [&b_saw_kick](const std::string& l) {
            if (l == "* slow left room (too slow)") b_saw_kick = true;
          });
          CO_ASSERT(got);
          EXPECT_EQ(*got, "a: " + line);
          ++sent;
        }
        EXPECT_EQ(b_saw_kick, a_saw_kick);
        EXPECT_EQ(server.srv.slow_disconnects(), 1u);
        EXPECT_EQ(co_await b.ask("/who\n"), "WHO room: a b");

        // slow finally reads: a gap-free run of a's lines from line 1 on (the
        // last one may be cut short by the disconnection), at most an
        // "ERR too slow" line, then the end.
        int next = 1;
        bool cut = false, ended_with_err = false;
        while (auto l = co_await slow.line()) {
          EXPECT_FALSE(ended_with_err) << "after the ERR line: " << l->substr(0, 40);
          if (l->empty()) continue;  // the newline that ends a cut line
          const std::string want = "a: " + std::to_string(next) + " " + pad;
          if (*l == want) {
            EXPECT_FALSE(cut) << "a line after a cut one";
            ++next;
          } else if (l->starts_with("a") && want.starts_with(*l)) {
            EXPECT_FALSE(cut) << "two cut lines";
            cut = true;
          } else if (l->starts_with("ERR too slow")) {
            ended_with_err = true;
          } else {
            EXPECT_TRUE(l->starts_with("* ")) << "unexpected: " << l->substr(0, 40);
          }
        }
        EXPECT_LT(next, sent);  // the line that passed the limit never reached slow

        co_await a.send("/quit\n");
        co_await a.until("BYE");
        co_await b.send("/quit\n");
        co_await b.until("BYE");
        co_await until_no_connections(server.srv);
        server.stop();
        co_await s.join();
        EXPECT_EQ(server.srv.connections(), 0);
      }(),
      std::chrono::seconds(60));
}

// ---- Bad input ---------------------------------------------------------------

TEST_F(chat_test, BadInputGetsAnErrorLineAndTheConnectionStaysUsable) {
  run([]() -> task<void> {
    test_server server({.max_line = 4096, .max_rooms = 1});
    scope s;
    server.start(s);
    auto c = co_await client::connect(server.port());
    EXPECT_EQ(*co_await c.line(), "OK welcome guest1; /help lists the commands");
    EXPECT_EQ(co_await c.ask("hello\n"), "ERR not in a room; /join ROOM first");
    EXPECT_EQ(co_await c.ask("/who\n"), "ERR not in a room");
    EXPECT_EQ(co_await c.ask("/leave\n"), "ERR not in a room");
    EXPECT_EQ(co_await c.ask("/frobnicate now\n"),
              "ERR unknown command /frobnicate; /help lists the commands");
    EXPECT_EQ(co_await c.ask("/\n"), "ERR unknown command /; /help lists the commands");
    EXPECT_EQ(co_await c.ask("/who everyone\n"), "ERR /who takes no argument");
    EXPECT_EQ(co_await c.ask("/nick\n"), "ERR bad nick '': use 1-16 of A-Z a-z 0-9 _ -");
    EXPECT_EQ(co_await c.ask("/nick bad!nick\n"),
              "ERR bad nick 'bad!nick': use 1-16 of A-Z a-z 0-9 _ -");
    EXPECT_EQ(co_await c.ask("/nick abcdefghijklmnopq\n"),
              "ERR bad nick 'abcdefghijklmnopq': use 1-16 of A-Z a-z 0-9 _ -");
    EXPECT_EQ(co_await c.ask("/join #room\n"),
              "ERR bad room name '#room': use 1-32 of A-Z a-z 0-9 _ -");
    EXPECT_EQ(co_await c.ask("/join\n"), "ERR bad room name '': use 1-32 of A-Z a-z 0-9 _ -");
    // Too long: one error, however many reads the line spans; the rest of
    // that line is skipped, not taken as a new line.
    std::string huge(100000, 'y');
    co_await c.send(huge + "\n");
    EXPECT_EQ(*co_await c.line(), "ERR line too long (limit 4096 bytes); skipped");
    EXPECT_EQ(co_await c.ask(std::string(4097, 'z') + "\r\n"),
              "ERR line too long (limit 4096 bytes); skipped");
    // Invalid UTF-8: a stray continuation byte, an overlong '/', a UTF-16
    // surrogate, a sequence cut short, a code point above U+10FFFF.
    for (std::string bad : {"\x80 x", "\xc0\xaf", "\xed\xa0\x80", "caf\xc3", "\xf4\x90\x80\x80"}) {
      EXPECT_EQ(co_await c.ask(bad + "\n"), "ERR invalid UTF-8; line skipped");
    }
    EXPECT_EQ(co_await c.ask("red \x1b[31m text\n"),
              "ERR control characters are not allowed; line skipped");
    EXPECT_EQ(co_await c.ask(std::string("nul \0 byte\n", 11)),
              "ERR control characters are not allowed; line skipped");
    // Still usable, and good input still works, CRLF included.
    EXPECT_EQ(co_await c.ask("/nick ann\r\n"), "OK nick ann");
    EXPECT_EQ(co_await c.ask("/join lobby\n"), "OK joined lobby members: ann");
    EXPECT_EQ(co_await c.ask("/join lobby\n"), "ERR already in lobby");
    EXPECT_EQ(co_await c.ask("caf\xc3\xa9 \xf0\x9f\x98\x80\n"), "ann: caf\xc3\xa9 \xf0\x9f\x98\x80");
    EXPECT_EQ(co_await c.ask("//slash\n"), "ann: /slash");
    EXPECT_EQ(co_await c.ask(std::string(4096, 'w') + "\r\n"), "ann: " + std::string(4096, 'w'));
    EXPECT_EQ(co_await c.ask("/who\n"), "WHO lobby: ann");
    // The room limit (1 here): a second room cannot be opened.
    auto d = co_await client::connect(server.port());
    co_await d.until("OK welcome");
    EXPECT_EQ(co_await d.ask("/join other\n"), "ERR too many rooms; join an existing one");
    EXPECT_EQ(co_await d.ask("/join lobby\n"), "OK joined lobby members: ann guest2");
    EXPECT_EQ(*co_await c.line(), "* guest2 joined lobby");
    EXPECT_EQ(co_await d.ask("/nick dan\n"), "OK nick dan");
    EXPECT_EQ(*co_await c.line(), "* guest2 is now dan");
    co_await c.send("/help\n");
    for (auto h : chat::help_lines) EXPECT_EQ(*co_await c.line(), h);
    EXPECT_EQ(co_await c.ask("/quit\n"), "BYE");
    EXPECT_EQ(*co_await d.line(), "* ann left lobby");
    EXPECT_FALSE((co_await c.line()).has_value());  // closed after BYE
    co_await d.send("/quit\n");
    co_await d.until("BYE");
    co_await until_no_connections(server.srv);
    server.stop();
    co_await s.join();
  }());
}

TEST_F(chat_test, Utf8Validation) {
  EXPECT_TRUE(chat::valid_utf8(""));
  EXPECT_TRUE(chat::valid_utf8("plain ascii"));
  EXPECT_TRUE(chat::valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_TRUE(chat::valid_utf8("\xf4\x8f\xbf\xbf"));                     // U+10FFFF
  EXPECT_FALSE(chat::valid_utf8("\xff"));
  EXPECT_FALSE(chat::valid_utf8("\xe0\x80\x80"));  // overlong
  EXPECT_FALSE(chat::valid_utf8("\xed\xbf\xbf"));  // surrogate
  EXPECT_FALSE(chat::valid_utf8("\xe2\x82"));      // cut short
  EXPECT_FALSE(chat::valid_utf8("\xc3\x28"));      // bad continuation
}

// ---- Leaving and shutting down --------------------------------------------------

TEST_F(chat_test, APeerThatVanishesLeavesItsRoom) {
  run([]() -> task<void> {
    test_server server({});
    scope s;
    server.start(s);
    auto a = co_await client::connect(server.port());
    co_await a.send("/nick a\n/join room\n");
    co_await a.until("OK joined");
    {
      auto b = co_await client::connect(server.port());
      co_await b.send("/nick b\n/join room\n");
      co_await b.until("OK joined");
      co_await a.until("* b joined room");
      abort_connection(b.stream());  // a reset, no /quit
    }
    co_await a.until("* b left room");
    EXPECT_EQ(co_await a.ask("/who\n"), "WHO room: a");
    {
      auto c = co_await client::connect(server.port());
      co_await c.send("/nick c\n/join room\n");
      co_await c.until("OK joined");
      co_await a.until("* c joined room");
      // An orderly EOF right after a command without its newline: the
      // command still counts and its answer is still delivered.
      co_await c.send("/who");
      (void)c.stream().shutdown();
      auto who = co_await c.until("WHO");
      EXPECT_EQ(who.value_or(""), "WHO room: a c");
      EXPECT_FALSE((co_await c.line()).has_value());
    }
    co_await a.until("* c left room");
    co_await a.send("/quit\n");
    co_await a.until("BYE");
    co_await until_no_connections(server.srv);
    server.stop();
    co_await s.join();
  }());
}

// A reader that ends by an exception (here thrown by the test hook, as a
// failed allocation would) leaves its room: the others are told, a later
// broadcast does not touch the gone connection's queue (ASan: no
// use-after-free), and the server goes on accepting. Before with_scope and
// leave_on_failure, the room kept the dead connection and the exception
// escaped serve().
TEST_F(chat_test, AReaderThatFailsByExceptionLeavesItsRoomAndTheServerGoesOn) {
  run([]() -> task<void> {
    chat::options o;
    o.before_line = [](std::string_view line) {
      if (line == "boom") throw std::runtime_error("injected failure");
    };
    test_server server(o);
    scope s;
    server.start(s);
    auto a = co_await client::connect(server.port());
    co_await a.send("/nick a\n/join room\n");
    co_await a.until("OK joined");
    auto b = co_await client::connect(server.port());
    co_await b.send("/nick b\n/join room\n");
    co_await b.until("OK joined");
    co_await a.until("* b joined room");
    co_await b.send("boom\n");
    co_await a.until("* b left room");
    // b's connection is closed by the server.
    while (co_await b.line()) {
    }
    co_await a.send("still here\n");
    co_await a.until("a: still here");
    EXPECT_EQ(co_await a.ask("/who\n"), "WHO room: a");
    auto c = co_await client::connect(server.port());
    co_await c.send("/nick c\n/join room\n");
    co_await c.until("OK joined room members: a c");
    co_await c.send("/quit\n");
    co_await c.until("BYE");
    co_await a.send("/quit\n");
    co_await a.until("BYE");
    co_await until_no_connections(server.srv);
    EXPECT_EQ(server.srv.failures(), 1u);
    server.stop();
    co_await s.join();
  }());
}

TEST_F(chat_test, ShutdownTellsEveryClientAndJoinsEveryConnection) {
  run([]() -> task<void> {
    test_server server({});
    scope s;
    server.start(s);
    std::vector<client> clients;
    for (int i = 0; i < 5; ++i) {
      clients.push_back(co_await client::connect(server.port()));
      co_await clients.back().send("/join room\n");
      co_await clients.back().until("OK joined");
    }
    EXPECT_EQ(server.srv.connections(), 5);
    server.stop();
    for (auto& c : clients) {
      co_await c.until("BYE server shutting down");
      EXPECT_FALSE((co_await c.line()).has_value());
    }
    co_await s.join();  // serve returned: every connection is gone
    EXPECT_EQ(server.srv.connections(), 0);
    EXPECT_EQ(server.srv.rooms(), 0u);
    // serve closed its listener as it stopped accepting: a new client is
    // refused, not left waiting in the backlog.
    auto late = co_await net::tcp_stream::connect(net::endpoint::loopback_v4(server.port()));
    EXPECT_FALSE(late.has_value());
  }());
}

// ---- Memory bounded in bytes ----------------------------------------------------

// Line `seq` of a flood: its number, then a filler that depends on it, so a
// line mixed up with another or cut and spliced does not pass for intact.
std::string flood_line(int seq, std::size_t size) {
  std::string l = std::to_string(seq) + " ";
  l.append(size - l.size(), static_cast<char>('a' + seq % 26));
  return l;
}

// One sender floods a room whose other members never read. Each member's
// queue is bounded in bytes and every queue shares one copy of each line, so
// what the server holds stays bounded however much is sent (its own byte
// counters, not RSS: before, each member had its own copy in a queue of
// 1024 lines). Every member that does not read is disconnected as too
// slow, and what it reads afterwards is a gap-free prefix of the sender's
// lines, each one intact.
TEST_F(chat_test, AFloodIntoARoomThatDoesNotReadKeepsTheServersBytesBounded) {
  constexpr int members = 8;
  constexpr std::size_t queue_bytes = 64 * 1024, line_size = 3000;
  run(
      []() -> task<void> {
        test_server server({.queue_bytes = queue_bytes, .goodbye_timeout = 100ms});
        scope s;
        server.start(s);
        std::vector<client> idle;
        for (int i = 0; i < members; ++i) {
          idle.push_back(co_await client::connect(server.port()));
          co_await idle.back().send("/nick m" + std::to_string(i) + "\n/join flood\n");
          co_await idle.back().until("OK joined");  // and from now on, never reads
        }
        auto sender = co_await client::connect(server.port());
        co_await sender.send("/nick sender\n/join flood\n");
        co_await sender.until("OK joined");

        // The sender reads its own echo of each line before the next (so
        // only the members fall behind), until all of them are gone.
        int sent = 0, kicked = 0;
        std::uint64_t bytes_sent = 0;
        while (kicked < members) {
          CO_ASSERT(sent < 40000);  // 120 MB: the kernel's buffers take a few MB
          const std::string l = flood_line(sent, line_size);
          co_await sender.send(l + "\n");
          bytes_sent += l.size() + 1;
          auto echo = co_await sender.until("sender: " + l, [&kicked](const std::string& got) {
            if (got.starts_with("* m") && got.ends_with(" left flood (too slow)")) ++kicked;
          });
          CO_ASSERT(echo);
          ++sent;
        }
        EXPECT_EQ(server.srv.slow_disconnects(), std::uint64_t{members});
        const auto& mem = server.srv.memory();
        // No queue ever held more than its limit...
        EXPECT_LE(mem.peak_queued_bytes.load(), (members + 1) * queue_bytes);
        // ...and the queues share their lines: with a copy per member the
        // distinct bytes alive would equal the bytes queued, here they are
        // a fraction (about one queue's worth).
        EXPECT_LT(mem.peak_line_bytes.load() * 3, mem.peak_queued_bytes.load());
        EXPECT_GT(bytes_sent, 2 * queue_bytes);

        // Each member reads at last (all at once, so that none waits on the
        // others): a gap-free prefix of the lines, each intact (the last may
        // be cut by the disconnection), at most an "ERR too slow" line, then
        // the end.
        scope readers;
        for (auto& member : idle) {
          readers.spawn([](client& m, int sent) -> task<void> {
            int next = 0;
            bool cut = false, ended_with_err = false;
            while (auto l = co_await m.line()) {
              EXPECT_FALSE(ended_with_err) << "after the ERR line: " << l->substr(0, 40);
              if (l->empty()) continue;  // the newline that ends a cut line
              const std::string want = "sender: " + flood_line(next, line_size);
              if (*l == want) {
                EXPECT_FALSE(cut) << "a line after a cut one";
                ++next;
              } else if (l->starts_with("sender: ") && want.starts_with(*l)) {
                EXPECT_FALSE(cut) << "two cut lines";
                cut = true;
              } else if (l->starts_with("ERR too slow")) {
                ended_with_err = true;
              } else {
                EXPECT_TRUE(l->starts_with("* ")) << "unexpected: " << l->substr(0, 40);
              }
            }
            EXPECT_LT(next, sent);
          }(member, sent));
        }
        co_await readers.join();
        co_await sender.send("/quit\n");
        co_await sender.until("BYE");
        co_await until_no_connections(server.srv);
        server.stop();
        co_await s.join();
        // Every line was freed, and nothing is charged to a queue any more.
        EXPECT_EQ(mem.line_bytes.load(), 0u);
        EXPECT_EQ(mem.queued_bytes.load(), 0u);
      }(),
      std::chrono::seconds(120));
}

// ---- Idle timeout ----------------------------------------------------------------

// A client that sends nothing is closed after options::idle_timeout, with
// a last "ERR idle timeout" line; its room is told why it left.
TEST_F(chat_test, ASilentClientIsClosedByTheIdleTimeout) {
  run([]() -> task<void> {
    test_server server({.idle_timeout = 100ms});
    scope s;
    server.start(s);
    auto c = co_await client::connect(server.port());
    co_await c.send("/join room\n");
    co_await c.until("OK joined");
    co_await c.until("ERR idle timeout");  // and nothing sent since
    EXPECT_FALSE((co_await c.line()).has_value());
    co_await until_no_connections(server.srv);
    EXPECT_EQ(server.srv.idle_disconnects(), 1u);
    EXPECT_EQ(server.srv.rooms(), 0u);
    server.stop();
    co_await s.join();
  }());
}

// A client that keeps sending but never reads: its reader is never idle,
// but its writer makes no progress, and that is idle too. Its queue is
// large enough that the slow-client policy cannot fire first.
TEST_F(chat_test, AClientThatSendsButNeverReadsIsClosedByTheIdleTimeout) {
  run(
      []() -> task<void> {
        test_server server({.queue_bytes = std::size_t{1} << 30, .idle_timeout = 1000ms});
        scope s;
        server.start(s);
        auto stuck = co_await client::connect(server.port());
        co_await stuck.send("/nick stuck\n/join room\n");
        co_await stuck.until("OK joined");  // and from now on, never reads
        auto p = co_await client::connect(server.port());
        co_await p.send("/nick p\n/join room\n");
        co_await p.until("OK joined");
        // p's lines fill stuck's buffers; stuck sends an empty line (no
        // output, but a sign of life for its reader) after each of them.
        const std::string pad(3000, 'x');
        bool gone = false;
        for (int sent = 0; !gone; ++sent) {
          CO_ASSERT(sent < 200000);
          co_await p.send(std::to_string(sent) + pad + "\n");
          auto echo = co_await p.until("p: " + std::to_string(sent), [&gone](const std::string& l) {
            if (l == "* stuck left room (idle)") gone = true;
          });
          CO_ASSERT(echo);
          auto alive = co_await stuck.stream().write_all(std::as_bytes(std::span("\n", 1)));
          if (!alive) break;  // closed already (the notice is then on its way to p)
        }
        if (!gone) co_await p.until("* stuck left room (idle)");
        EXPECT_EQ(server.srv.idle_disconnects(), 1u);
        EXPECT_EQ(server.srv.slow_disconnects(), 0u);
        co_await p.send("/quit\n");
        co_await p.until("BYE");
        server.stop();
        co_await s.join();
      }(),
      std::chrono::seconds(120));
}

}  // namespace
}  // namespace corio::test
