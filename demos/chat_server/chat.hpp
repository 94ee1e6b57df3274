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
// Memory: a line sent to a room is built once, as an immutable shared
// line, and every member's queue holds a reference to it, so a broadcast
// to 100 members costs one copy of the line, not 100. Each connection's
// outbound queue is bounded in bytes (options::queue_bytes; each line
// counts its size plus a few bytes for its slot), not in lines, and grows
// only as lines come: an idle connection reserves nothing for it. An idle
// reader waits with wait_readable() and borrows a buffer from its worker
// only while it reads, so an idle connection holds its frames and little
// else (a few KB). After a wave of connections closes, the server hands
// the heap memory they freed back to the system (corio::release_free_memory).
//
// Slow clients: when a line for a connection would take its queue past
// options::queue_bytes, the server disconnects it: its pending write is
// cancelled, the room is told "* NICK left ROOM (too slow)", and the server
// tries, for options::goodbye_timeout, to send it "ERR too slow: ..."
// before closing. Nobody else waits for it: one reader that stops reading
// never holds up a room, and never makes the server hold more than
// queue_bytes for it.
//
// Idle clients: with options::idle_timeout set, a connection that sends
// nothing for that long, or whose pending write makes no progress for that
// long (a client that sends but never reads), is closed: the room is told
// "* NICK left ROOM (idle)" and the client, best effort, "ERR idle ...".
//
// Shutdown: when the stop token passed to serve() is triggered, the server
// stops accepting and closes its listener (a new client is refused, not
// left waiting in the backlog), tells every client "BYE server shutting down", closes
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
#include "corio/sync/event.hpp"

namespace chat {

struct options {
  /// The longest line a client may send, in bytes, without its newline.
  std::size_t max_line = 4096;
  /// Bytes waiting to be written to one client (a line counts its size
  /// plus line_overhead) before the slow-client policy disconnects it.
  /// Nothing is reserved up front: the queue grows as lines come.
  std::size_t queue_bytes = 256 * 1024;
  /// Rooms that may exist at once (a room lives while it has members).
  std::size_t max_rooms = 1000;
  /// How long the last line ("BYE ...", "ERR too slow ...") may take to
  /// leave before the connection is closed anyway.
  std::chrono::milliseconds goodbye_timeout{1000};
  /// Closes a connection that sends nothing, or whose write makes no
  /// progress, for this long; 0 = never.
  std::chrono::milliseconds idle_timeout{0};
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
    "HELP slow clients: when your outbound queue passes its byte limit you are disconnected "
    "('ERR too slow')",
};

/// What one queued line counts beyond its bytes against
/// options::queue_bytes: its slot in the queue (a pointer) and its share of
/// the line's header. Lines of one byte still fill a queue.
inline constexpr std::size_t line_overhead = 32;

/// An immutable line, shared by every queue it is in (defined in chat.cpp).
class line;

/// The server's byte counters, readable from any thread (tests and the
/// summary read them). A line counts once in line_bytes however many
/// queues hold it, and once per queue in queued_bytes.
struct memory_counters {
  /// Bytes of the lines alive now (being queued or written).
  std::atomic<std::size_t> line_bytes{0};
  /// The most line_bytes ever reached.
  std::atomic<std::size_t> peak_line_bytes{0};
  /// Bytes charged to all the outbound queues now (each line's size plus
  /// line_overhead, once per queue), until the line is written.
  std::atomic<std::size_t> queued_bytes{0};
  /// The most queued_bytes ever reached.
  std::atomic<std::size_t> peak_queued_bytes{0};
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
  /// Connections closed by the idle timeout.
  std::uint64_t idle_disconnects() const noexcept {
    return idle_disconnects_.load(std::memory_order_relaxed);
  }
  /// The byte counters (a test hook, and the summary's figures).
  const memory_counters& memory() const noexcept { return mem_; }

 private:
  struct member;
  struct room;
  struct connection;
  class kick_list;
  class outbox;

  corio::task<void> accept_loop(corio::net::tcp_listener& listener, std::stop_token stop,
                                corio::scope& conns);
  corio::task<void> run_connection(corio::net::tcp_stream stream, std::stop_token stop,
                                   std::uint64_t id);
  corio::task<void> reader(connection& c, corio::net::read_half rd);
  // Returns true when the client ended in order (/quit or EOF).
  corio::task<bool> read_lines(connection& c, corio::net::read_half rd);
  corio::task<void> writer(connection& c, corio::net::write_half wr);
  // The reader or the writer made no progress for the idle timeout: marks
  // the connection idle and counts it once, before its room hears of it.
  void mark_idle(connection& c) noexcept;

  // Each returns false when the connection should end (/quit).
  bool handle_line(connection& c, std::string_view line);
  void reply(connection& c, const line& l);
  // The parts, concatenated, and a newline: one line, counted in mem_.
  template <class... Parts>
  line line_of(const Parts&... parts);
  // After a connection closed, `left` remain: after a wave of closes, give
  // the freed heap back to the system.
  void after_close(std::int64_t left) noexcept;
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
  std::atomic<std::uint64_t> idle_disconnects_{0};
  // The most connections open at once since memory was last handed back.
  std::atomic<std::int64_t> peak_since_trim_{0};
  memory_counters mem_;
  // Rooms by name: a directory of rooms, not of connections. Guarded by
  // rooms_mu_, which is taken before a room's own mutex; only joins and
  // leaves take it, never a broadcast.
  mutable std::mutex rooms_mu_;
  std::map<std::string, std::shared_ptr<room>, std::less<>> rooms_;
};

}  // namespace chat
