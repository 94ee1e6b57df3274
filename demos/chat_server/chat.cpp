// demos/chat_server/chat.cpp: see chat.hpp for the protocol, and
// docs/sending-to-connections.md for why it is built this way.
//
// Who owns what:
//  - A connection is one coroutine (run_connection) whose frame holds its
//    state: the outbound queue (an outbox), the scope of its reader and
//    writer.
//  - The reader alone reads the socket and changes the connection's
//    membership; the writer alone writes the socket, draining the outbox:
//    one outstanding write, lines in order.
//  - A room holds, per member, a pointer to that member's outbox, a
//    stop_source to disconnect it, and its nick. Nothing else reaches a
//    connection from outside.
//  - A connection leaves its room in its own reader, under the room's
//    mutex, before run_connection can end; the outbox dies with
//    run_connection's frame after that. A broadcast holds the room's mutex
//    while it uses the pointers, so it never sees a freed outbox.
//  - A line is immutable once built and shared by reference count: the
//    outboxes that hold it and the writer writing it keep it alive.
#include "chat.hpp"

#include <algorithm>
#include <array>
#include <new>
#include <span>
#include <utility>
#include <vector>

#include "common/lent_buffer.hpp"

namespace chat {

using namespace std::chrono_literals;


namespace {

constexpr std::size_t max_nick = 16;
constexpr std::size_t max_room_name = 32;
// How many queued lines the writer gathers into one write (a gather write
// of the shared lines themselves: nothing is copied into a batch buffer).
constexpr std::size_t batch_lines = 16;
// The reader's buffer, lent by its worker only while a read is in flight.
constexpr std::size_t read_buffer_size = 4096;
using read_buffer = demo::lent_buffer<read_buffer_size>;
// Memory is handed back to the system once the connections open have
// fallen to half of their peak since the last time, for peaks this large.
constexpr std::int64_t trim_after_peak = 64;

void raise_peak(std::atomic<std::size_t>& peak, std::size_t now) noexcept {
  auto p = peak.load(std::memory_order_relaxed);
  while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
  }
}

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

}  // namespace

// ---- Shared lines -------------------------------------------------------------

// One allocation: this header, then the bytes. The reference count is the
// only thing that changes after the line is built.
struct line_rep {
  std::atomic<std::uint32_t> refs;
  std::size_t size;
  memory_counters* mem;  // told when the line is freed
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
};

class line {
 public:
  line() noexcept = default;
  line(const line& o) noexcept : r_(o.r_) {
    if (r_) r_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  line(line&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  line& operator=(line o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  ~line() {
    if (r_ && r_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      r_->mem->line_bytes.fetch_sub(r_->size, std::memory_order_relaxed);
      const std::size_t bytes = sizeof(line_rep) + r_->size;
      r_->~line_rep();
      ::operator delete(r_, bytes);
    }
  }

  // The views, concatenated, and a newline. Throws std::bad_alloc.
  static line make(memory_counters& mem, std::span<const std::string_view> parts) {
    std::size_t size = 1;
    for (auto v : parts) size += v.size();
    line l;
    l.r_ = new (::operator new(sizeof(line_rep) + size)) line_rep{{1}, size, &mem};
    char* out = l.r_->data();
    for (auto v : parts) out = std::ranges::copy(v, out).out;
    *out = '\n';
    const auto now = mem.line_bytes.fetch_add(size, std::memory_order_relaxed) + size;
    raise_peak(mem.peak_line_bytes, now);
    return l;
  }

  std::string_view view() const noexcept {
    return r_ ? std::string_view(r_->data(), r_->size) : std::string_view();
  }
  std::size_t size() const noexcept { return r_ ? r_->size : 0; }
  // What the line counts against a queue's byte limit.
  std::size_t charge() const noexcept { return size() + line_overhead; }

 private:
  line_rep* r_ = nullptr;
};

template <class... Parts>
line server::line_of(const Parts&... parts) {
  const std::string_view views[] = {std::string_view(parts)...};
  return line::make(mem_, views);
}

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

// One connection's outbound queue: references to shared lines, in order,
// bounded in bytes. Nothing is allocated until a line comes; the slots grow
// as lines come and are given back once a burst has drained. Any thread
// offers; only the connection's writer takes.
class server::outbox {
 public:
  enum class offered { queued, full, closed };

  outbox(std::size_t limit, memory_counters& mem) noexcept : limit_(limit), mem_(mem) {}
  outbox(const outbox&) = delete;
  outbox& operator=(const outbox&) = delete;
  ~outbox() { uncharge(bytes_); }

  // Queues a reference to `l` unless that would take the queue past its
  // limit (full: the caller applies the slow-client policy) or the queue
  // is closed. Never waits. Throws std::bad_alloc (growing the slots).
  offered offer(const line& l) {
    std::lock_guard lock(mu_);
    if (closed_) return offered::closed;
    if (bytes_ + l.charge() > limit_) return offered::full;
    q_.push_back(l);
    bytes_ += l.charge();
    const auto now = mem_.queued_bytes.fetch_add(l.charge(), std::memory_order_relaxed) + l.charge();
    raise_peak(mem_.peak_queued_bytes, now);
    ready.set();  // wakes the writer through the runtime, never inline
    return offered::queued;
  }

  // Moves up to out.size() lines, oldest first, into `out`; 0 when the
  // queue is empty. They still count against the limit until written().
  std::size_t take(std::span<line> out) noexcept {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    while (n < out.size() && head_ < q_.size()) out[n++] = std::move(q_[head_++]);
    if (head_ == q_.size()) {
      head_ = 0;
      // A burst has drained: give its slots back, keep a few.
      if (q_.capacity() > batch_lines) {
        std::vector<line>().swap(q_);
      } else {
        q_.clear();
      }
      if (!closed_) ready.reset();  // set again by the next offer
    } else if (head_ >= 64 && head_ * 2 >= q_.size()) {
      q_.erase(q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return n;
  }

  // The writer is done with lines taken earlier that counted `bytes`.
  void written(std::size_t bytes) noexcept {
    std::lock_guard lock(mu_);
    bytes_ -= bytes;
    uncharge(bytes);
  }

  // For a client cut off as too slow: what is queued will never be
  // delivered whole, so it is dropped now rather than when the connection
  // is gone; later offers fail, and the writer sees closed().
  void discard() noexcept {
    std::vector<line> dropped;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      std::size_t bytes = 0;
      for (std::size_t i = head_; i < q_.size(); ++i) bytes += q_[i].charge();
      bytes_ -= bytes;
      uncharge(bytes);
      dropped.swap(q_);
      head_ = 0;
      ready.set();
    }
  }  // the lines are released here, outside the lock

  // Later offers fail; the writer drains what is queued, then sees closed().
  void close() noexcept {
    std::lock_guard lock(mu_);
    closed_ = true;
    ready.set();
  }
  bool closed() const noexcept {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // Set while lines are queued (or the queue is closed): the writer waits
  // on it.
  corio::event ready;

 private:
  void uncharge(std::size_t bytes) noexcept {
    mem_.queued_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  }

  const std::size_t limit_;
  memory_counters& mem_;
  mutable std::mutex mu_;
  std::vector<line> q_;   // lines from head_ on are queued
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;  // charged: queued, or taken and not yet written
  bool closed_ = false;
};

// What a room knows about one member: how to send to it and how to
// disconnect it. Both stay valid while the member is listed, because the
// connection unlists itself (under the room's mutex) before it ends.
struct server::member {
  outbox* out;  // the member's outbound queue
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
  connection(std::size_t queue_bytes, memory_counters& mem, std::uint64_t conn_id)
      : out(queue_bytes, mem), id(conn_id), nick("guest" + std::to_string(conn_id)) {}
  // Lines for this client, written in order by the writer.
  outbox out;
  // The reader and the writer; stopped as a whole.
  corio::scope tasks;
  // Triggered by a room (slow-client policy); stops `tasks`.
  std::stop_source disconnect;
  // Triggered when the writer ends, for a /quit that waits for it.
  std::stop_source writer_done;
  const std::uint64_t id;
  std::atomic<bool> kicked{false};
  // Set by the reader or the writer when the idle timeout ended it.
  std::atomic<bool> idle{false};
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
  // Under the room's mutex: queues `l` for `m`, or applies the policy.
  void offer(member& m, const line& l) {
    if (m.kicked) return;
    if (m.out->offer(l) != outbox::offered::full) return;
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
    const auto open = connections_.fetch_add(1, std::memory_order_relaxed) + 1;
    accepted_.fetch_add(1, std::memory_order_relaxed);
    auto peak = peak_since_trim_.load(std::memory_order_relaxed);
    while (open > peak &&
           !peak_since_trim_.compare_exchange_weak(peak, open, std::memory_order_relaxed)) {
    }
    conns.spawn(run_connection(std::move(*s), conns.token(), next_id++));
  }
  // New clients are refused from now on, not left in the backlog while the
  // open connections say goodbye. Every connection sees `stop` too: each
  // says goodbye and ends; with_scope joins them.
  listener.close();
}

void server::after_close(std::int64_t left) noexcept {
  // glibc keeps what a wave of closed connections freed: without this, RSS
  // stays near the peak of connections after they are gone.
  auto peak = peak_since_trim_.load(std::memory_order_relaxed);
  if (peak < trim_after_peak || left * 2 > peak) return;
  if (peak_since_trim_.compare_exchange_strong(peak, left, std::memory_order_relaxed)) {
    corio::release_free_memory();
  }
}

// ---- One connection -------------------------------------------------------------

corio::task<void> server::run_connection(corio::net::tcp_stream stream, std::stop_token stop,
                                         std::uint64_t id) {
  (void)stream.set_nodelay(true);
  connection c(opts_.queue_bytes, mem_, id);
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
      c.out.discard();  // its backlog is freed now, not when it is gone
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
    last = "ERR too slow: your outbound queue passed " + std::to_string(opts_.queue_bytes) +
           " bytes; disconnecting\n";
  } else if (c.idle.load(std::memory_order_acquire)) {
    last = "ERR idle timeout: nothing sent or taken for " +
           std::to_string(opts_.idle_timeout.count()) + " ms; disconnecting\n";
  } else if (stop.stop_requested() && !c.quitting) {
    last = "BYE server shutting down\n";
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
  after_close(connections_.fetch_sub(1, std::memory_order_acq_rel) - 1);
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

void server::mark_idle(connection& c) noexcept {
  // Counted here, as a kick is, and not at the teardown: the reader leaves
  // the room next, and whoever reads the room's "(idle)" notice may read
  // the counter at once.
  if (!c.idle.exchange(true, std::memory_order_acq_rel)) {
    idle_disconnects_.fetch_add(1, std::memory_order_relaxed);
  }
}

corio::task<bool> server::read_lines(connection& c, corio::net::read_half rd) {
  // Only a line split across reads is kept here; whole lines are handled
  // where they lie in the read buffer. Nothing is reserved up front.
  std::string partial;
  bool skipping = false;  // inside a line that was too long
  const auto stop = c.tasks.token();
  const auto idle = opts_.idle_timeout;
  for (;;) {
    if (partial.empty() && partial.capacity() > 256) std::string().swap(partial);
    // Wait without a buffer: an idle connection pins none. The awaiter is
    // built in a statement of its own (GCC keeps the temporaries of a
    // co_await's full expression in the frame, and the idle frame is what
    // each connection costs).
    const auto deadline =
        idle.count() ? corio::clock::now() + idle : corio::clock::time_point::max();
    auto wait = corio::with_stop(corio::with_deadline(rd.wait_readable(), deadline), stop);
    if (auto ready = co_await wait; !ready) {
      if (ready.error() == std::errc::timed_out) mark_idle(c);
      co_return false;  // stopped, timed out, or an error
    }
    read_buffer buf;  // lent by this worker until the chunk is handled
    auto n = co_await corio::with_stop(rd.read(buf.bytes()), stop);
    if (!n) co_return false;  // stopped, or an error
    if (*n == 0) {
      // The peer is done sending; a last line without its newline counts.
      if (!skipping && !partial.empty()) handle_line(c, partial);
      co_return true;
    }
    std::string_view chunk(reinterpret_cast<const char*>(buf.bytes().data()), *n);
    while (!chunk.empty()) {
      const auto nl = chunk.find('\n');
      const auto piece = chunk.substr(0, nl);
      bool whole = false;  // the line is `piece` itself, nothing kept before it
      if (!skipping) {
        if (partial.size() + piece.size() > opts_.max_line + 1) {  // + 1: a '\r'
          skipping = true;
          partial.clear();
          reply(c, line_of("ERR line too long (limit ", std::to_string(opts_.max_line),
                           " bytes); skipped"));
        } else if (partial.empty() && nl != std::string_view::npos) {
          whole = true;
        } else {
          partial.append(piece);
        }
      }
      if (nl == std::string_view::npos) break;
      chunk.remove_prefix(nl + 1);
      if (std::exchange(skipping, false)) continue;
      std::string_view l = whole ? piece : std::string_view(partial);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      const bool go_on = handle_line(c, l);
      partial.clear();
      if (!go_on) co_return true;  // /quit
    }
  }
}

corio::task<void> server::writer(connection& c, corio::net::write_half wr) {
  // References to the lines being written, and their slices: a gather write
  // of the shared lines, no copy.
  std::array<line, batch_lines> lines;
  std::array<corio::io_slice, batch_lines> slices;
  const auto stop = c.tasks.token();
  const auto idle = opts_.idle_timeout;
  for (;;) {
    const std::size_t n = c.out.take(lines);
    if (n == 0) {
      if (c.out.closed()) break;  // closed and drained (/quit, EOF)
      if (!co_await c.out.ready.wait(stop)) break;  // stopped
      continue;
    }
    std::size_t charged = 0;
    for (std::size_t i = 0; i < n; ++i) {
      slices[i] = corio::as_slice(lines[i].view());
      charged += lines[i].charge();
    }
    // A write that makes no progress for `idle` ends the connection: a
    // client that sends but never reads cannot hold it forever.
    const auto deadline =
        idle.count() ? corio::clock::now() + idle : corio::clock::time_point::max();
    auto write = corio::with_stop(
        corio::with_deadline(wr.write_all(std::span(slices).first(n)), deadline), stop);
    auto w = co_await write;
    if (!w) {
      // What is left in the slices was not sent: a slice neither whole nor
      // empty is a line cut in the middle.
      for (std::size_t i = 0; i < n; ++i) {
        if (slices[i].size != 0 && slices[i].size != lines[i].size()) c.partial_line = true;
      }
      if (w.error() == std::errc::timed_out) mark_idle(c);
    }
    for (std::size_t i = 0; i < n; ++i) lines[i] = line();
    c.out.written(charged);
    if (!w) break;
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
void server::reply(connection& c, const line& l) {
  if (c.out.offer(l) == outbox::offered::full) {
    kick_list kicks;
    kicks.kick(c.disconnect);
  }
}

void server::say(connection& c, std::string_view text) {
  if (!c.in) {
    reply(c, line_of("ERR not in a room; /join ROOM first"));
    return;
  }
  // One copy of the line, shared by every member's queue.
  const line l = line_of(c.nick, ": ", text);
  kick_list kicks;  // declared first: stops after the unlock
  std::lock_guard lock(c.in->mu);
  for (auto& m : c.in->members) kicks.offer(m, l);
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
    const line notice = line_of("* ", c.nick, " is now ", nick);
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
  const line notice = line_of("* ", c.nick, " joined ", name);
  for (auto& m : r.members) kicks.offer(m, notice);
  r.members.push_back({.out = &c.out, .disconnect = c.disconnect, .nick = c.nick, .id = c.id});
  std::string ack = "OK joined " + r.name + " members:";
  for (auto& m : r.members) ack.append(" ").append(m.nick);
  kicks.offer(r.members.back(), line_of(ack));
}

void server::leave(connection& c, bool acknowledge) {
  if (!c.in) return;
  kick_list kicks;
  {
    std::lock_guard directory(rooms_mu_);
    room& r = *c.in;
    std::lock_guard lock(r.mu);
    std::erase_if(r.members, [&c](const member& m) { return m.out == &c.out; });
    const std::string_view why = c.kicked.load(std::memory_order_acquire) ? " (too slow)"
                                 : c.idle.load(std::memory_order_acquire)   ? " (idle)"
                                                                            : "";
    const line notice = line_of("* ", c.nick, " left ", r.name, why);
    for (auto& m : r.members) kicks.offer(m, notice);
    if (acknowledge && c.out.offer(line_of("OK left ", r.name)) == outbox::offered::full) {
      kicks.kick(c.disconnect);
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
  reply(c, line_of(list));
}

}  // namespace chat
