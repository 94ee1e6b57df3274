// demos/chat_server/chat.cpp: see chat.hpp for the protocol, and
// docs/sending-to-connections.md for why it is built this way.
//
// Who owns what:
//  - A connection is one coroutine (run_connection) whose frame holds its
//    state: the outbound channel, the scope of its reader and writer.
//  - The reader alone reads the socket and changes the connection's
//    membership; the writer alone writes the socket, draining the channel:
//    one outstanding write, lines in order.
//  - A room holds, per member, a pointer to that member's channel (a
//    sender), a stop_source to disconnect it, and its nick. Nothing else
//    reaches a connection from outside.
//  - A connection leaves its room in its own reader, under the room's
//    mutex, before run_connection can end; the channel dies with
//    run_connection's frame after that. A broadcast holds the room's mutex
//    while it uses the pointers, so it never sees a freed channel.
#include "chat.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

namespace chat {

using namespace std::chrono_literals;


namespace {

constexpr std::size_t max_nick = 16;
constexpr std::size_t max_room_name = 32;
// How many queued lines the writer gathers into one write.
constexpr std::size_t max_batch = 64 * 1024;

bool valid_name(std::string_view s, std::size_t max) noexcept {
  if (s.empty() || s.size() > max) return false;
  return std::ranges::all_of(s, [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
  });
}

// Control characters would let one client drive the others' terminals.
bool has_control(std::string_view s) noexcept {
  return std::ranges::any_of(s, [](char ch) {
    auto b = static_cast<unsigned char>(ch);
    return (b < 0x20 && b != '\t') || b == 0x7f;
  });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The parts, concatenated, and a newline: one protocol line.
template <class... Parts>
std::string line_of(const Parts&... parts) {
  const std::string_view views[] = {std::string_view(parts)...};
  std::size_t size = 1;
  for (auto v : views) size += v.size();
  std::string s;
  s.reserve(size);
  for (auto v : views) s.append(v);
  s.push_back('\n');
  return s;
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((b & 0xe0) == 0xc0) {
      len = 2;
      cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      len = 3;
      cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false;  // a continuation byte first, or 0xf8..0xff
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cb & 0x3f);
    }
    constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// ---- State ------------------------------------------------------------------

// What a room knows about one member: how to send to it and how to
// disconnect it. Both stay valid while the member is listed, because the
// connection unlists itself (under the room's mutex) before it ends.
struct server::member {
  corio::channel<std::string>* out;  // the member's outbound queue
  std::stop_source disconnect;       // shares state with the connection's own
  std::string nick;
  std::uint64_t id;
  bool kicked = false;  // the slow-client policy already fired for it
};

struct server::room {
  explicit room(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::mutex mu;                // never held across a co_await
  std::vector<member> members;  // guarded by mu, in joining order
};

// One connection's state, in run_connection's frame.
struct server::connection {
  connection(std::size_t queue, std::uint64_t conn_id)
      : out(queue), id(conn_id), nick("guest" + std::to_string(conn_id)) {}
  // Lines for this client, written in order by the writer.
  corio::channel<std::string> out;
  // The reader and the writer; stopped as a whole.
  corio::scope tasks;
  // Triggered by a room (slow-client policy); stops `tasks`.
  std::stop_source disconnect;
  // Triggered when the writer ends, for a /quit that waits for it.
  std::stop_source writer_done;
  const std::uint64_t id;
  std::atomic<bool> kicked{false};
  // The rest belongs to the reader, then to run_connection after the join.
  std::string nick;
  std::shared_ptr<room> in;
  bool quitting = false;
  // Belongs to the writer: the last write stopped in the middle of a line.
  bool partial_line = false;
};

// Connections to disconnect, gathered under a room's mutex and stopped after
// it is released (stopping runs their stop callbacks inline).
class server::kick_list {
 public:
  kick_list() noexcept = default;
  kick_list(const kick_list&) = delete;
  kick_list& operator=(const kick_list&) = delete;
  ~kick_list() {
    for (auto& k : kicks_) k.request_stop();
  }
  // Under the room's mutex: queues `line` for `m`, or applies the policy.
  void offer(member& m, const std::string& line) {
    if (m.kicked) return;
    auto r = m.out->try_send(line);
    if (r || r.error() != std::errc::resource_unavailable_try_again) return;
    m.kicked = true;  // full: never wait for it, disconnect it
    kicks_.push_back(m.disconnect);
  }
  void kick(std::stop_source s) { kicks_.push_back(std::move(s)); }

 private:
  std::vector<std::stop_source> kicks_;  // usually empty: no allocation
};

server::server(options opts) : opts_(opts) {}
server::~server() = default;

std::size_t server::rooms() const {
  std::lock_guard lock(rooms_mu_);
  return rooms_.size();
}

// ---- Accepting ----------------------------------------------------------------

corio::task<void> server::serve(corio::net::tcp_listener& listener, std::stop_token stop) {
  // with_scope: however the accept loop ends, every connection is joined
  // before serve returns. The connections obey the scope's token, which the
  // shutdown stops, and so does an exception in the accept loop.
  corio::scope conns;
  std::stop_callback shutdown(stop, [&conns] { conns.request_stop(); });
  co_await corio::with_scope(conns, [&](corio::scope& s) -> corio::task<void> {
    co_await accept_loop(listener, stop, s);
  });
}

corio::task<void> server::accept_loop(corio::net::tcp_listener& listener, std::stop_token stop,
                                      corio::scope& conns) {
  std::uint64_t next_id = 1;
  while (!stop.stop_requested()) {
    auto s = co_await corio::with_stop(listener.accept(), stop);
    if (!s) {
      auto ec = s.error();
      if (ec == std::errc::operation_canceled || ec == corio::errc::not_open ||
          ec == std::errc::bad_file_descriptor || ec == std::errc::invalid_argument) {
        break;
      }
      if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
          ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory) {
        // Out of descriptors: wait for connections to close, do not spin.
        (void)co_await corio::with_stop(corio::sleep_for(100ms), stop);
      }
      continue;  // anything else concerned that one connection
    }
    connections_.fetch_add(1, std::memory_order_relaxed);
    accepted_.fetch_add(1, std::memory_order_relaxed);
    conns.spawn(run_connection(std::move(*s), conns.token(), next_id++));
  }
  // Every connection sees `stop` too: each says goodbye and ends; with_scope
  // joins them.
}

// ---- One connection -------------------------------------------------------------

corio::task<void> server::run_connection(corio::net::tcp_stream stream, std::stop_token stop,
                                         std::uint64_t id) {
  (void)stream.set_nodelay(true);
  connection c(opts_.queue, id);
  reply(c, line_of("OK welcome ", c.nick, "; /help lists the commands"));
  {
    // The server's shutdown and a room's kick both end this connection by
    // stopping its scope: the reader's read and the writer's receive and
    // write are all tied to c.tasks.token().
    std::stop_callback on_shutdown(stop, [&c] { c.tasks.request_stop(); });
    std::stop_callback on_kick(c.disconnect.get_token(), [this, &c] {
      // Counted before the stop, so before the room hears of it.
      slow_disconnects_.fetch_add(1, std::memory_order_relaxed);
      c.kicked.store(true, std::memory_order_release);
      c.tasks.request_stop();
    });
    auto [rd, wr] = stream.split();
    try {
      // Joins the reader and the writer on every exit: one that ends by an
      // exception stops the other, and the exception comes out here only
      // once both are done (the reader has left its room by then).
      co_await corio::with_scope(c.tasks, [&](corio::scope& s) -> corio::task<void> {
        s.spawn_local(reader(c, rd));
        s.spawn_local(writer(c, wr));
        co_return;
      });
    } catch (...) {
      // This connection failed (an allocation, a handler's exception): it
      // ends, the server goes on.
      failures_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // Both halves are done and the reader has left the room: no other
  // coroutine can reach c.out any more. A last line, best effort.
  std::string last;
  if (c.kicked.load(std::memory_order_acquire)) {
    last = line_of("ERR too slow: your outbound queue of ", std::to_string(opts_.queue),
                   " lines was full; disconnecting");
  } else if (stop.stop_requested() && !c.quitting) {
    last = line_of("BYE server shutting down");
  }
  if (!last.empty()) {
    if (c.partial_line) last.insert(last.begin(), '\n');
    const auto deadline = corio::clock::now() + opts_.goodbye_timeout;
    std::string_view rest = last;
    while (!rest.empty()) {
      auto n = co_await corio::with_deadline(stream.write(rest), deadline);
      if (!n) break;  // a client that does not read: give up at the deadline
      rest.remove_prefix(*n);
    }
  }
  (void)stream.shutdown(corio::net::tcp_stream::shutdown_how::send);
  stream.close();
  connections_.fetch_sub(1, std::memory_order_acq_rel);
}

corio::task<void> server::reader(connection& c, corio::net::read_half rd) {
  bool orderly = false;
  try {
    orderly = co_await read_lines(c, rd);
  } catch (...) {
    // Whatever failed, the room must forget c.out before c goes away.
    leave_on_failure(c);
    throw;
  }
  // Leave the room here, in the connection's own coroutine: after this no
  // broadcast can reach c.out.
  leave(c, /*acknowledge=*/false);
  if (!orderly) {
    c.tasks.request_stop();  // a reset, an error, or we were stopped
    co_return;
  }
  // /quit or the peer's EOF: let the writer send what is queued (BYE last
  // after /quit), but not forever.
  c.out.close();
  auto slept = co_await corio::with_stop(corio::sleep_for(opts_.goodbye_timeout),
                                         c.writer_done.get_token());
  if (slept) c.tasks.request_stop();  // the writer did not finish in time
}

corio::task<bool> server::read_lines(connection& c, corio::net::read_half rd) {
  std::array<char, 4096> buf;
  std::string line;
  line.reserve(opts_.max_line + 1);
  bool skipping = false;  // inside a line that was too long
  const auto stop = c.tasks.token();
  for (;;) {
    auto n = co_await corio::with_stop(rd.read(buf), stop);
    if (!n) co_return false;  // stopped, or an error
    if (*n == 0) {
      // The peer is done sending; a last line without its newline counts.
      if (!skipping && !line.empty()) handle_line(c, line);
      co_return true;
    }
    std::string_view chunk(buf.data(), *n);
    while (!chunk.empty()) {
      const auto nl = chunk.find('\n');
      const auto piece = chunk.substr(0, nl);
      if (!skipping) {
        if (line.size() + piece.size() > opts_.max_line + 1) {  // + 1: a '\r'
          skipping = true;
          line.clear();
          reply(c, line_of("ERR line too long (limit ", std::to_string(opts_.max_line),
                           " bytes); skipped"));
        } else {
          line.append(piece);
        }
      }
      if (nl == std::string_view::npos) break;
      chunk.remove_prefix(nl + 1);
      if (std::exchange(skipping, false)) continue;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const bool go_on = handle_line(c, line);
      line.clear();
      if (!go_on) co_return true;  // /quit
    }
  }
}

corio::task<void> server::writer(connection& c, corio::net::write_half wr) {
  std::string batch;
  batch.reserve(max_batch);
  const auto stop = c.tasks.token();
  for (;;) {
    auto first = co_await c.out.receive(stop);
    if (!first) break;  // closed and drained (/quit), or stopped
    batch.assign(*first);
    // Whatever else is queued goes in the same write: still one write at a
    // time, in order, but one system call for a burst of lines.
    while (batch.size() < max_batch) {
      auto more = c.out.try_receive();
      if (!more) break;
      batch.append(*more);
    }
    std::size_t off = 0;
    while (off < batch.size()) {
      auto n = co_await corio::with_stop(wr.write(std::string_view(batch).substr(off)), stop);
      if (!n) break;
      off += *n;
    }
    if (off < batch.size()) {
      c.partial_line = off > 0 && batch[off - 1] != '\n';
      break;
    }
  }
  c.writer_done.request_stop();
  c.tasks.request_stop();
}

// ---- Commands -----------------------------------------------------------------------

bool server::handle_line(connection& c, std::string_view line) {
  if (opts_.before_line) opts_.before_line(line);
  if (line.size() > opts_.max_line) {
    reply(c, line_of("ERR line too long (limit ", std::to_string(opts_.max_line),
                     " bytes); skipped"));
    return true;
  }
  if (!valid_utf8(line)) {
    reply(c, line_of("ERR invalid UTF-8; line skipped"));
    return true;
  }
  if (has_control(line)) {
    reply(c, line_of("ERR control characters are not allowed; line skipped"));
    return true;
  }
  if (trim(line).empty()) return true;
  if (line.front() != '/' || line.starts_with("//")) {
    say(c, line.front() == '/' ? line.substr(1) : line);
    return true;
  }
  const auto space = line.find_first_of(" \t");
  const auto cmd = line.substr(0, space);
  const auto arg = space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
  if (cmd == "/nick") {
    rename(c, arg);
  } else if (cmd == "/join") {
    join(c, arg);
  } else if (cmd == "/leave" && arg.empty()) {
    if (c.in) {
      leave(c, /*acknowledge=*/true);
    } else {
      reply(c, line_of("ERR not in a room"));
    }
  } else if (cmd == "/who" && arg.empty()) {
    who(c);
  } else if (cmd == "/quit") {
    leave(c, /*acknowledge=*/false);
    reply(c, line_of("BYE"));
    c.quitting = true;
    return false;
  } else if (cmd == "/help") {
    for (auto h : help_lines) reply(c, line_of(h));
  } else if (cmd == "/leave" || cmd == "/who") {
    reply(c, line_of("ERR ", cmd, " takes no argument"));
  } else {
    reply(c, line_of("ERR unknown command ", cmd, "; /help lists the commands"));
  }
  return true;
}

// A line for this connection alone; the same policy as for room lines.
void server::reply(connection& c, std::string line) {
  auto r = c.out.try_send(std::move(line));
  if (!r && r.error() == std::errc::resource_unavailable_try_again) {
    kick_list kicks;
    kicks.kick(c.disconnect);
  }
}

void server::say(connection& c, std::string_view text) {
  if (!c.in) {
    reply(c, line_of("ERR not in a room; /join ROOM first"));
    return;
  }
  const std::string line = line_of(c.nick, ": ", text);
  kick_list kicks;  // declared first: stops after the unlock
  std::lock_guard lock(c.in->mu);
  for (auto& m : c.in->members) kicks.offer(m, line);
}

void server::rename(connection& c, std::string_view nick) {
  if (!valid_name(nick, max_nick)) {
    reply(c, line_of("ERR bad nick '", nick.substr(0, 64),
                     "': use 1-16 of A-Z a-z 0-9 _ -"));
    return;
  }
  if (c.in) {
    kick_list kicks;
    std::lock_guard lock(c.in->mu);
    const std::string notice = line_of("* ", c.nick, " is now ", nick);
    for (auto& m : c.in->members) {
      if (m.out == &c.out) {
        m.nick = nick;
      } else {
        kicks.offer(m, notice);
      }
    }
  }
  c.nick = nick;
  reply(c, line_of("OK nick ", nick));
}

void server::join(connection& c, std::string_view name) {
  if (!valid_name(name, max_room_name)) {
    reply(c, line_of("ERR bad room name '", name.substr(0, 64),
                     "': use 1-32 of A-Z a-z 0-9 _ -"));
    return;
  }
  if (c.in && c.in->name == name) {
    reply(c, line_of("ERR already in ", name));
    return;
  }
  if (c.in) leave(c, /*acknowledge=*/true);
  kick_list kicks;
  std::lock_guard directory(rooms_mu_);
  auto it = rooms_.find(name);
  if (it == rooms_.end()) {
    if (rooms_.size() >= opts_.max_rooms) {
      reply(c, line_of("ERR too many rooms; join an existing one"));
      return;
    }
    it = rooms_.emplace(std::string(name), std::make_shared<room>(std::string(name))).first;
  }
  c.in = it->second;
  room& r = *c.in;
  std::lock_guard lock(r.mu);
  // All three under the room's mutex, so that every member sees joins,
  // leaves and lines in one order, and the joiner's acknowledgement comes
  // before any line sent after it joined.
  const std::string notice = line_of("* ", c.nick, " joined ", name);
  for (auto& m : r.members) kicks.offer(m, notice);
  r.members.push_back({.out = &c.out, .disconnect = c.disconnect, .nick = c.nick, .id = c.id});
  std::string ack = "OK joined " + r.name + " members:";
  for (auto& m : r.members) ack.append(" ").append(m.nick);
  ack.push_back('\n');
  kicks.offer(r.members.back(), ack);
}

void server::leave(connection& c, bool acknowledge) {
  if (!c.in) return;
  kick_list kicks;
  {
    std::lock_guard directory(rooms_mu_);
    room& r = *c.in;
    std::lock_guard lock(r.mu);
    std::erase_if(r.members, [&c](const member& m) { return m.out == &c.out; });
    const bool slow = c.kicked.load(std::memory_order_acquire);
    const std::string notice = line_of("* ", c.nick, " left ", r.name, slow ? " (too slow)" : "");
    for (auto& m : r.members) kicks.offer(m, notice);
    if (acknowledge) {
      auto ack = c.out.try_send(line_of("OK left ", r.name));
      if (!ack && ack.error() == std::errc::resource_unavailable_try_again) kicks.kick(c.disconnect);
    }
    if (r.members.empty()) rooms_.erase(r.name);
  }
  c.in.reset();
}

void server::leave_on_failure(connection& c) noexcept {
  try {
    leave(c, /*acknowledge=*/false);  // tells the room, like any leave
    return;
  } catch (...) {
  }
  // Telling the room failed too (out of memory): leave without a notice.
  if (!c.in) return;
  {
    std::lock_guard directory(rooms_mu_);
    room& r = *c.in;
    std::lock_guard lock(r.mu);
    std::erase_if(r.members, [&c](const member& m) { return m.out == &c.out; });
    if (r.members.empty()) rooms_.erase(r.name);
  }
  c.in.reset();
}

void server::who(connection& c) {
  if (!c.in) {
    reply(c, line_of("ERR not in a room"));
    return;
  }
  std::string list = "WHO " + c.in->name + ":";
  {
    std::lock_guard lock(c.in->mu);
    for (auto& m : c.in->members) list.append(" ").append(m.nick);
  }
  list.push_back('\n');
  reply(c, std::move(list));
}

}  // namespace chat
