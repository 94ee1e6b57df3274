// demos/chat_server/chat.hpp: a line-based chat server, the corio pattern
// for connections that send to other connections (see
// docs/sending-to-connections.md). main.cpp only parses the command line;
// tests/chat/chat_server_test.cpp compiles this server in and drives it.
//
// The protocol, one UTF-8 line per message, "\n" or "\r\n" terminated:
//
//   client -> server                 server -> client
//   /nick NAME                       OK nick NAME
//   /join ROOM                       OK joined ROOM members: NICK NICK ...
//                                    (to the others: * NICK joined ROOM)
//   /leave                           OK left ROOM   (others: * NICK left ROOM)
//   /who                             WHO ROOM: NICK NICK ...
//   /quit                            BYE            (then the server closes)
//   /help                            HELP ... lines
//   any other line                   NICK: line     to everyone in the room,
//                                                   the sender included
//   //line                           sends "/line" as plain text
//
// On connecting: "OK welcome NICK; /help lists the commands" (NICK is
// guestN until /nick). Anything wrong gets one "ERR reason" line and the
// connection stays open: an unknown command, a bad name, a line without a
// room, a line longer than options::max_line bytes (skipped up to its
// newline), invalid UTF-8 or control characters. Nicks are 1-16 and rooms
// 1-32 characters of A-Z a-z 0-9 _ -; nicks are not reserved.
//
// A client that closes its sending side (EOF) is treated like /quit
// without the BYE: what is queued for it is still written (a last line
// without its newline counts), then the server closes.
//
// Slow clients: each connection has an outbound queue of options::queue
// lines. When a line for it finds the queue full, the server disconnects
// it: its pending write is cancelled, the room is told "* NICK left ROOM
// (too slow)", and the server tries, for options::goodbye_timeout, to send
// it "ERR too slow: ..." before closing. Nobody else waits for it: one
// reader that stops reading never holds up a room.
//
// Shutdown: when the stop token passed to serve() is triggered, the server
// stops accepting, tells every client "BYE server shutting down", closes
// them and returns once every connection is gone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>

#include "corio/corio.hpp"
#include "corio/sync/channel.hpp"

namespace chat {

struct options {
  /// The longest line a client may send, in bytes, without its newline.
  std::size_t max_line = 4096;
  /// Lines waiting to be written to one client before the slow-client
  /// policy disconnects it. Allocated once per connection.
  std::size_t queue = 1024;
  /// Rooms that may exist at once (a room lives while it has members).
  std::size_t max_rooms = 1000;
  /// How long the last line ("BYE ...", "ERR too slow ...") may take to
  /// leave before the connection is closed anyway.
  std::chrono::milliseconds goodbye_timeout{1000};
  /// For tests: called with each line before it is handled. An exception it
  /// throws ends that connection's reader the way a failed allocation would;
  /// the connection leaves its room and closes, the server goes on.
  std::function<void(std::string_view)> before_line{};
};

/// The /help text and the policy, one line each (also printed by --help).
inline constexpr std::string_view help_lines[] = {
    "HELP /nick NAME   choose your name (1-16 of A-Z a-z 0-9 _ -)",
    "HELP /join ROOM   enter ROOM (1-32 of A-Z a-z 0-9 _ -), leaving your current one",
    "HELP /leave       leave your room",
    "HELP /who         list the members of your room",
    "HELP /quit        say goodbye and disconnect",
    "HELP any other line is sent to everyone in your room as 'NICK: line' ('//x' sends '/x')",
    "HELP lines over the length limit, invalid UTF-8 and control characters get 'ERR ...'",
    "HELP slow clients: when your outbound queue is full you are disconnected ('ERR too slow')",
};

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

/// A chat server. serve() runs it on a listener; the counters can be read
/// from any thread.
class server {
 public:
  explicit server(options opts = {});
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  /// Accepts connections on `listener` until `stop` is triggered (or the
  /// listener fails), each into a scope; then says goodbye to every client
  /// and returns once every connection's coroutines have finished and
  /// their frames are freed. Run it on a runtime worker.
  corio::task<void> serve(corio::net::tcp_listener& listener, std::stop_token stop);

  /// Connections accepted and not yet closed.
  std::int64_t connections() const noexcept { return connections_.load(std::memory_order_acquire); }
  /// Connections accepted so far.
  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  /// Connections closed by the slow-client policy.
  std::uint64_t slow_disconnects() const noexcept {
    return slow_disconnects_.load(std::memory_order_relaxed);
  }
  /// Connections that ended by an exception (closed; the server went on).
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  /// Rooms with at least one member.
  std::size_t rooms() const;

 private:
  struct member;
  struct room;
  struct connection;
  class kick_list;

  corio::task<void> accept_loop(corio::net::tcp_listener& listener, std::stop_token stop,
                                corio::scope& conns);
  corio::task<void> run_connection(corio::net::tcp_stream stream, std::stop_token stop,
                                   std::uint64_t id);
  corio::task<void> reader(connection& c, corio::net::read_half rd);
  // Returns true when the client ended in order (/quit or EOF).
  corio::task<bool> read_lines(connection& c, corio::net::read_half rd);
  corio::task<void> writer(connection& c, corio::net::write_half wr);

  // Each returns false when the connection should end (/quit).
  bool handle_line(connection& c, std::string_view line);
  void reply(connection& c, std::string line);
  void say(connection& c, std::string_view text);
  void rename(connection& c, std::string_view nick);
  void join(connection& c, std::string_view name);
  void leave(connection& c, bool acknowledge);
  // leave() for a reader that failed: never throws; without a notice if
  // even that cannot be built.
  void leave_on_failure(connection& c) noexcept;
  void who(connection& c);

  const options opts_;
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> slow_disconnects_{0};
  std::atomic<std::uint64_t> failures_{0};
  // Rooms by name: a directory of rooms, not of connections. Guarded by
  // rooms_mu_, which is taken before a room's own mutex; only joins and
  // leaves take it, never a broadcast.
  mutable std::mutex rooms_mu_;
  std::map<std::string, std::shared_ptr<room>, std::less<>> rooms_;
};

}  // namespace chat
