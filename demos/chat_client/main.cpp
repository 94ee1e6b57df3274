// demos/chat_client/main.cpp: a client for chat_server, interactive or as
// a load generator that checks delivery.
//
// Interactive: stdin lines go to the server, server lines go to stdout.
// A plain thread reads stdin (blocking) and feeds a corio::channel; a
// writer coroutine drains it into the socket while a reader coroutine
// prints what arrives.
//
//   chat_client --port 41234 --nick ann --room lobby
//
// Load (--load): N clients join M rooms (a seeded shuffle, so rooms differ
// by at most one member), wait until everyone has joined, then each sends K
// messages carrying its id, a sequence number and the send time, keeping
// at most --window of its own messages unacknowledged (its own echo is the
// acknowledgement). Every client checks that it receives every message of
// its room exactly once and in each sender's order.
//
//   chat_client --port 41234 --load --clients 200 --rooms 4 --messages 100
//   ...
//   RESULT delivered=2000000 expected=2000000 msgs_per_s=... p50_us=... p99_us=... errors=0
//
// Exits 0 only when every expected message was delivered, in order.
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/args.hpp"
#include "common/host.hpp"
#include "common/startup.hpp"
#include "common/histogram.hpp"
#include "corio/corio.hpp"
#include "corio/sync/channel.hpp"
#include "corio/sync/event.hpp"


namespace {

using corio::clock;
using namespace std::chrono_literals;

struct options {
  corio::net::endpoint target;
  corio::runtime_options runtime;
  // Interactive.
  std::string nick;
  std::string room;
  // Load.
  bool load = false;
  std::uint32_t clients = 100;
  std::uint32_t rooms = 4;
  std::uint32_t messages = 100;
  std::uint32_t window = 4;
  std::uint64_t seed = 1;
  std::uint32_t timeout_s = 60;
};

std::optional<int> parse_options(int argc, const char* const* argv, options& out) {
  std::uint16_t port = 0;
  std::string host = "127.0.0.1";
  std::optional<unsigned> threads;
  std::string backend = "auto";
  demo::args cli("chat_client",
                 "A chat_server client. Interactive by default: stdin lines go to the server\n"
                 "(/nick NAME, /join ROOM, /who, /quit, or text), server lines to stdout.\n"
                 "With --load: N clients in M rooms each send K messages; every client checks\n"
                 "it got every message of its room once and in order; prints delivered\n"
                 "messages/s, fan-out latency percentiles and a RESULT line. Exits 0 only if\n"
                 "delivery was complete and in order. Keep (clients/rooms) x window x (message\n"
                 "size + 32) below the server's --queue-bytes, or the server rightly\n"
                 "disconnects clients as too slow.");
  cli.integer("port", "P", port, std::uint16_t{1}, std::uint16_t{65535}, "server port")
      .required()
      .text("host", "NAME", host, "server name or address, IPv4 or IPv6; a name is resolved "
            "once, at start, and its first address used")
      .integer("threads", "N", threads, 1u, 1024u, "worker threads")
      .default_text("one per core")
      .choice("backend", backend, {"auto", "uring", "epoll", "iocp"}, "I/O backend")
      .text("nick", "NAME", out.nick, "interactive: send /nick NAME first")
      .text("room", "ROOM", out.room, "interactive: send /join ROOM first")
      .flag("load", out.load, "run the load test instead of the interactive client")
      .integer("clients", "N", out.clients, 1u, 100000u, "load: clients")
      .integer("rooms", "M", out.rooms, 1u, 10000u, "load: rooms")
      .integer("messages", "K", out.messages, 1u, 100000000u, "load: messages per client")
      .integer("window", "W", out.window, 1u, 4096u,
               "load: own messages in flight per client (unacknowledged)")
      .integer("seed", "S", out.seed, std::uint64_t{0}, ~std::uint64_t{0},
               "load: seed of the room assignment")
      .integer("timeout", "SECONDS", out.timeout_s, 1u, 86400u,
               "load: give up (and fail) after this long");
  if (auto code = cli.parse(argc, argv)) return code;
  if (out.load && out.rooms > out.clients) return cli.fail("--rooms: more rooms than clients");
  out.runtime.threads = threads.value_or(0);
  out.runtime.backend = *corio::parse_backend_kind(backend);
  // A name is resolved once, here; every connection uses its first address.
  auto targets = demo::resolve_host("chat_client", host, port, out.runtime.backend);
  if (!targets) return 1;
  out.target = targets->front();
  return std::nullopt;
}


// Reads a stream line by line (without the "\n", and without a "\r").
class line_reader {
 public:
  explicit line_reader(corio::net::read_half rd) noexcept : rd_(rd) {}

  // The next line; an empty optional at EOF, on an error, or when stopped.
  corio::task<std::optional<std::string_view>> next(std::stop_token stop) {
    for (;;) {
      if (auto nl = std::string_view(buf_).substr(pos_).find('\n'); nl != std::string_view::npos) {
        std::string_view line(buf_.data() + pos_, nl);
        pos_ += nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        co_return line;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      const std::size_t have = buf_.size();
      buf_.resize(have + 16384);
      auto n = co_await corio::with_stop(rd_.read(std::span(buf_).subspan(have)), stop);
      buf_.resize(have + (n ? *n : 0));
      if (!n || *n == 0) co_return std::nullopt;
    }
  }

 private:
  corio::net::read_half rd_;
  std::string buf_;
  std::size_t pos_ = 0;
};

corio::task<bool> write_line(corio::net::write_half wr, std::string_view line,
                             std::stop_token stop) {
  while (!line.empty()) {
    auto n = co_await corio::with_stop(wr.write(line), stop);
    if (!n) co_return false;
    line.remove_prefix(*n);
  }
  co_return true;
}

// ---- Interactive ----------------------------------------------------------------

corio::task<void> print_lines(corio::net::read_half rd, corio::scope& session) {
  line_reader lines(rd);
  while (auto line = co_await lines.next(session.token())) {
    fmt::print("{}\n", *line);
    std::fflush(stdout);
  }
  session.request_stop();  // the server closed: stop the writer too
}

corio::task<void> send_lines(corio::net::tcp_stream& stream, corio::channel<std::string>& input,
                             corio::scope& session) {
  auto [rd, wr] = stream.split();
  for (;;) {
    auto line = co_await input.receive(session.token());
    if (!line) break;
    line->push_back('\n');
    if (!co_await write_line(wr, *line, session.token())) break;
  }
  // stdin ended: half-close, and let the reader print the server's last
  // lines until it closes too.
  if (!session.stop_requested()) (void)stream.shutdown();
}

corio::task<int> interactive(const options& opt, corio::channel<std::string>& input) {
  auto stream = co_await corio::net::tcp_stream::connect(opt.target);
  if (!stream) {
    fmt::print(stderr, "chat_client: cannot connect to {}: {}\n", opt.target.to_string(),
               stream.error().message());
    co_return 1;
  }
  if (!opt.nick.empty()) (void)input.try_send("/nick " + opt.nick);
  if (!opt.room.empty()) (void)input.try_send("/join " + opt.room);
  corio::scope session;
  auto [rd, wr] = stream->split();
  session.spawn_local(print_lines(rd, session));
  session.spawn_local(send_lines(*stream, input, session));
  co_await session.join();
  co_return 0;
}

corio::task<corio::result<void>> send_one(corio::channel<std::string>& ch, std::string line) {
  co_return co_await ch.send(std::move(line));
}

int run_interactive(corio::runtime& rt, const options& opt) {
  corio::channel<std::string> input(64);
  std::atomic<bool> stdin_done{false};
  // A blocking reader of stdin, off the runtime: block_on(send) gives it
  // back-pressure without blocking a worker.
  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!rt.block_on(send_one(input, std::move(line)))) break;  // session over
    }
    input.close();
    stdin_done.store(true);
  });
  const int code = rt.block_on(interactive(opt, input));
  input.close();
  if (stdin_done.load()) {
    reader.join();
    return code;
  }
  // The thread is blocked reading stdin, which cannot be interrupted
  // portably: leave without unwinding (the runtime and channel stay alive
  // for it until the process is gone).
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

// ---- Load ---------------------------------------------------------------------

struct shared_state {
  explicit shared_state(const options& o) : opt(o) {}
  const options& opt;
  std::vector<std::uint32_t> room_of;        // by client id
  std::vector<std::uint32_t> index_in_room;  // by client id
  std::vector<std::uint32_t> room_size;      // by room
  corio::event start;                        // set once every client has joined
  std::atomic<std::uint32_t> joined{0};
  std::atomic<std::uint32_t> finished{0};
  std::stop_source all_done;  // cancels the timeout
  std::stop_source abort;     // the timeout: every client stops
  clock::time_point started;
  std::mutex mu;  // guards the rest
  int errors_printed = 0;
  void error(std::uint32_t id, std::string_view what) {
    std::lock_guard lock(mu);
    if (++errors_printed <= 10) fmt::print(stderr, "chat_client: client {}: {}\n", id, what);
  }
  void arrived() {
    if (joined.fetch_add(1) + 1 == opt.clients) {
      started = clock::now();
      start.set();
    }
  }
  void done() {
    if (finished.fetch_add(1) + 1 == opt.clients) all_done.request_stop();
  }
};

struct client_state {
  std::uint32_t id = 0;
  std::vector<std::uint32_t> next;  // by sender index in the room: next sequence expected
  std::uint64_t received = 0;       // in order
  std::uint64_t expected = 0;
  std::uint64_t errors = 0;
  clock::time_point last{};
  demo::histogram<std::uint32_t> latency;
  bool complete() const { return received == expected; }
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

template <class T>
bool parse_int(std::string_view& s, T& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{}) return false;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()));
  return true;
}

// Reads until EOF, checking each message; frees a window slot for each own
// echo; tells the writer once everything arrived.
corio::task<void> load_reader(shared_state& sh, client_state& st, line_reader& lines,
                              corio::channel<char>& credits, corio::event& complete,
                              corio::scope& session) {
  const std::uint32_t room = sh.room_of[st.id];
  while (auto line = co_await lines.next(session.token())) {
    std::string_view l = *line;
    if (l.starts_with("ERR")) {
      ++st.errors;
      sh.error(st.id, l);
      continue;
    }
    auto colon = l.find(": m ");
    if (colon == std::string_view::npos || !l.starts_with("c")) continue;  // OK, *, BYE, ...
    std::string_view rest = l.substr(colon + 3);
    std::uint32_t sender = 0, seq = 0;
    std::int64_t sent_ns = 0;
    if (!parse_int(rest, sender) || !parse_int(rest, seq) || !parse_int(rest, sent_ns) ||
        sender >= sh.opt.clients || sh.room_of[sender] != room) {
      ++st.errors;
      sh.error(st.id, fmt::format("unexpected line '{}'", l));
      continue;
    }
    std::uint32_t& want = st.next[sh.index_in_room[sender]];
    if (seq != want) {
      ++st.errors;
      sh.error(st.id, fmt::format("from client {}: got #{}, expected #{}", sender, seq, want));
      want = seq + 1;
      continue;
    }
    ++want;
    ++st.received;
    st.last = clock::now();
    st.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns() - sent_ns)));
    if (sender == st.id) (void)credits.try_receive();
    if (st.complete()) complete.set();
  }
  if (!st.complete()) {
    ++st.errors;
    sh.error(st.id, fmt::format("connection ended after {} of {} messages", st.received,
                                st.expected));
  }
  complete.set();
  session.request_stop();
}

corio::task<void> load_writer(shared_state& sh, client_state& st, corio::net::write_half wr,
                              corio::channel<char>& credits, corio::event& complete,
                              corio::scope& session) {
  std::string line;
  for (std::uint32_t seq = 0; seq < sh.opt.messages; ++seq) {
    // One credit per own message in flight; the reader returns it on the echo.
    if (!co_await credits.send(0, session.token())) co_return;
    line = fmt::format("m {} {} {}\n", st.id, seq, now_ns());
    if (!co_await write_line(wr, line, session.token())) co_return;
  }
  if (!co_await complete.wait(session.token())) co_return;
  (void)co_await write_line(wr, "/quit\n", session.token());
  // The reader ends at the server's close after "BYE".
}

corio::task<void> load_client(shared_state& sh, client_state& st) {
  auto stream = co_await corio::net::tcp_stream::connect(sh.opt.target);
  bool counted_in = false;
  if (stream) {
    (void)stream->set_nodelay(true);
    auto [rd, wr] = stream->split();
    line_reader lines(rd);
    corio::scope session;
    std::stop_callback on_abort(sh.abort.get_token(), [&session] { session.request_stop(); });
    const std::string room = fmt::format("r{}", sh.room_of[st.id]);
    bool joined = co_await write_line(wr, fmt::format("/nick c{}\n/join {}\n", st.id, room),
                                      session.token());
    while (joined) {
      auto line = co_await lines.next(session.token());
      if (!line) {
        joined = false;
      } else if (line->starts_with("OK joined " + room + " ")) {
        break;
      } else if (line->starts_with("ERR")) {
        sh.error(st.id, *line);
        joined = false;
      }
    }
    if (joined) {
      sh.arrived();
      counted_in = true;
      if (co_await sh.start.wait(session.token())) {
        corio::channel<char> credits(sh.opt.window);
        corio::event complete;
        session.spawn_local(load_reader(sh, st, lines, credits, complete, session));
        session.spawn_local(load_writer(sh, st, wr, credits, complete, session));
        co_await session.join();
      }
    }
    if (!joined) {
      ++st.errors;
      sh.error(st.id, "could not join its room");
    }
  } else {
    ++st.errors;
    sh.error(st.id, "connect: " + stream.error().message());
  }
  if (!counted_in) sh.arrived();  // never hold the others at the start line
  sh.done();
}

corio::task<void> abort_after(shared_state& sh) {
  auto slept = co_await corio::with_stop(
      corio::sleep_for(std::chrono::seconds(sh.opt.timeout_s)), sh.all_done.get_token());
  if (slept) {
    fmt::print(stderr, "chat_client: timed out after {} s\n", sh.opt.timeout_s);
    sh.abort.request_stop();
  }
}

corio::task<void> run_load(shared_state& sh, std::vector<client_state>& clients) {
  corio::scope all;
  all.spawn_local(abort_after(sh));
  for (auto& st : clients) all.spawn(load_client(sh, st));
  co_await all.join();
}

int load(corio::runtime& rt, const options& opt) {
  // On the heap: GCC 12 warns (wrongly) about std::stop_source members of a
  // local inlined this deep.
  auto shared = std::make_unique<shared_state>(opt);
  shared_state& sh = *shared;
  // Rooms by a seeded shuffle of round-robin seats: sizes differ by one.
  std::vector<std::uint32_t> ids(opt.clients);
  std::iota(ids.begin(), ids.end(), 0u);
  std::mt19937_64 rng(opt.seed);
  std::shuffle(ids.begin(), ids.end(), rng);
  sh.room_of.resize(opt.clients);
  sh.index_in_room.resize(opt.clients);
  sh.room_size.assign(opt.rooms, 0);
  for (std::uint32_t seat = 0; seat < opt.clients; ++seat) {
    const std::uint32_t id = ids[seat], room = seat % opt.rooms;
    sh.room_of[id] = room;
    sh.index_in_room[id] = sh.room_size[room]++;
  }
  std::vector<client_state> clients(opt.clients);
  std::uint64_t expected = 0;
  for (std::uint32_t id = 0; id < opt.clients; ++id) {
    auto& st = clients[id];
    st.id = id;
    st.next.assign(sh.room_size[sh.room_of[id]], 0);
    st.expected = std::uint64_t{sh.room_size[sh.room_of[id]]} * opt.messages;
    expected += st.expected;
  }

  rt.block_on(run_load(sh, clients));

  std::uint64_t delivered = 0, errors = 0;
  clock::time_point last = sh.started;
  demo::histogram<std::uint64_t> latency;
  for (auto& st : clients) {
    delivered += st.received;
    errors += st.errors;
    last = std::max(last, st.last);
    latency.merge(st.latency);
  }
  if (delivered != expected && errors == 0) errors = 1;
  const double seconds = std::chrono::duration<double>(last - sh.started).count();
  const double rate = seconds > 0 ? static_cast<double>(delivered) / seconds : 0;
  const double p50 = latency.quantile(0.50) / 1000, p99 = latency.quantile(0.99) / 1000;
  fmt::print("{} clients in {} rooms, {} messages each: {} of {} deliveries in {:.3f} s\n",
             opt.clients, opt.rooms, opt.messages, delivered, expected, seconds);
  fmt::print("delivered {:.0f} msgs/s; fan-out latency p50 {:.1f} us, p99 {:.1f} us, max {:.1f} us\n",
             rate, p50, p99, static_cast<double>(latency.max()) / 1000);
  fmt::print("RESULT delivered={} expected={} msgs_per_s={:.1f} p50_us={:.1f} p99_us={:.1f} errors={}\n",
             delivered, expected, rate, p50, p99, errors);
  std::fflush(stdout);
  return delivered == expected && errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse_options(argc, argv, opt)) return *code;
  demo::raise_descriptor_limit();
  auto rt = demo::start_runtime("chat_client", opt.runtime);
  if (!rt) return 1;
  return opt.load ? load(*rt, opt) : run_interactive(*rt, opt);
}
