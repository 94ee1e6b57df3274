// demos/kv_server/server.cpp: see server.hpp.
#include "kv_server/server.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <memory>
#include <optional>
#include <utility>

#include "kv_server/resp.hpp"

namespace kv {

using namespace std::chrono_literals;

namespace {

// A query buffer starts at Redis's PROTO_IOBUF_LEN and grows (doubling, or
// straight to the size of a bulk whose length is known) up to
// options::max_request.
constexpr std::size_t initial_buffer = 16 * 1024;
// Replies are written once per batch of requests, or earlier once this
// many bytes are waiting (a batch of GETs of large values).
constexpr std::size_t flush_at = 256 * 1024;
// How many queued replies and messages the writer gathers into one write
// (a gather write of the shared messages themselves: nothing is copied).
constexpr std::size_t batch_messages = 16;
// How long the last replies of a subscribed client that QUITs may take.
constexpr auto goodbye_timeout = 1s;

struct stopper {
  std::stop_source* source;
  void operator()() const noexcept { source->request_stop(); }
};

}  // namespace

// One connection's state, in run_connection's frame.
struct server::connection {
  explicit connection(std::uint64_t id) : s(id) {}
  session s;
  // Stops the reader and the writer: server shutdown, the output limit,
  // or the writer's end.
  std::stop_source stop;
  // The writer, once the client subscribed.
  corio::scope tasks;
  // Triggered when the writer ends, for a QUIT that waits for it.
  std::stop_source writer_done;
};

server::server(options opts, clock_fn clock) : ctx_(opts, std::move(clock)) {}

corio::task<void> server::serve(corio::net::tcp_listener& listener, std::stop_token stop) {
  if (auto at = listener.local_endpoint()) ctx_.port = at->port();
  corio::scope children;
  children.spawn_local(expire_loop(stop));
  while (!stop.stop_requested()) {
    auto s = co_await corio::with_stop(listener.accept(), stop);
    if (!s) {
      const auto ec = s.error();
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
    ctx_.accepted.fetch_add(1, std::memory_order_relaxed);
    children.spawn(run_connection(std::move(*s), stop));
  }
  // New clients are refused from now on, not left in the backlog.
  listener.close();
  co_await children.join();
}

corio::task<void> server::expire_loop(std::stop_token stop) {
  for (;;) {
    auto slept = co_await corio::with_stop(corio::sleep_for(ctx_.opts.expire_period), stop);
    if (!slept) co_return;
    ctx_.db.active_expire_cycle();
  }
}

corio::task<void> server::run_connection(corio::net::tcp_stream stream, std::stop_token server_stop) {
  (void)stream.set_nodelay(true);
  ctx_.connected.fetch_add(1, std::memory_order_relaxed);
  connection c(ctx_.next_client_id.fetch_add(1, std::memory_order_relaxed));
  std::stop_callback<stopper> on_shutdown(server_stop, stopper{&c.stop});
  std::optional<std::stop_callback<stopper>> on_kick;  // armed with the subscriber
  const auto token = c.stop.get_token();
  auto [rd, wr] = stream.split();
  bool writer_started = false;
  bool orderly = false;  // QUIT, EOF or a protocol error: queued replies still go out

  const std::size_t limit = ctx_.opts.max_request;
  std::size_t cap = std::min(initial_buffer, limit);
  auto buf = std::make_unique_for_overwrite<char[]>(cap);
  std::size_t len = 0;   // bytes buffered, from buf[0]
  std::size_t need = 0;  // the parser wants at least this many before it can go on
  std::string out;
  out.reserve(initial_buffer);
  request_parser parser;

  for (;;) {
    if (need > limit || (len == cap && cap == limit)) break;  // too large a request: close
    if (len == cap || need > cap) {
      const std::size_t grown = std::min(std::max(cap * 2, need), limit);
      auto bigger = std::make_unique_for_overwrite<char[]>(grown);
      std::memcpy(bigger.get(), buf.get(), len);
      buf = std::move(bigger);
      cap = grown;
    }
    auto n = co_await corio::with_stop(rd.read(std::span(buf.get() + len, cap - len)), token);
    if (!n || *n == 0) {
      orderly = n.has_value();
      break;
    }
    len += *n;
    if (len < need) continue;

    // Every complete request in the buffer, replies appended to `out`.
    std::size_t pos = 0;
    bool close = false;
    need = 0;
    while (pos < len) {
      const auto r = parser.parse(std::string_view(buf.get() + pos, len - pos));
      if (r.status == parse_status::incomplete) {
        need = r.need;  // counted from `pos`, which becomes 0 below
        break;
      }
      if (r.status == parse_status::error) {
        std::string e = "ERR Protocol error: ";
        e.append(r.error);
        reply::error(out, e);
        close = true;
        break;
      }
      pos += r.consumed;
      if (!parser.args().empty()) execute(ctx_, c.s, parser.args(), out);
      if (c.s.quit) {
        close = true;
        break;
      }
      if (out.size() >= flush_at && !c.s.sub) {
        auto w = co_await corio::with_stop(wr.write_all(out), token);
        out.clear();
        if (!w) {
          close = true;
          break;
        }
      }
    }
    if (pos > 0) {
      std::memmove(buf.get(), buf.get() + pos, len - pos);
      len -= pos;
    }
    if (len == 0 && cap > initial_buffer) {  // a large request is done: give its memory back
      buf = std::make_unique_for_overwrite<char[]>(initial_buffer);
      cap = initial_buffer;
    }

    if (c.s.sub) {
      if (!writer_started) {
        // A kick (the output limit) stops this connection, even one that
        // happened before this line: stop_callback runs at once then.
        on_kick.emplace(c.s.sub->kick.get_token(), stopper{&c.stop});
        c.tasks.spawn_local(writer(c, wr));
        writer_started = true;
      }
      kick_list kicks;
      deliver(c.s, out, kicks);
    } else if (!out.empty()) {
      auto w = co_await corio::with_stop(wr.write_all(out), token);
      out.clear();
      if (!w) break;
    }
    if (close) {
      orderly = true;
      break;
    }
  }

  if (c.s.sub) {
    // After this no publisher can reach the channel.
    ctx_.ps.unsubscribe_all(*c.s.sub);
    if (writer_started) {
      const auto writer_done = c.writer_done.get_token();
      if (orderly && !c.s.sub->kicked.load(std::memory_order_acquire)) {
        c.s.sub->out.close();  // the writer drains what is queued, then ends
        auto slept = co_await corio::with_stop(corio::sleep_for(goodbye_timeout), writer_done);
        if (slept) c.stop.request_stop();  // it did not finish in time
      } else {
        c.stop.request_stop();
      }
      co_await c.tasks.join();
    }
    if (c.s.sub->kicked.load(std::memory_order_acquire)) {
      ctx_.pubsub_disconnects.fetch_add(1, std::memory_order_relaxed);
    }
  }
  on_kick.reset();
  (void)stream.shutdown(corio::net::tcp_stream::shutdown_how::send);
  stream.close();
  ctx_.connected.fetch_sub(1, std::memory_order_relaxed);
}

corio::task<void> server::writer(connection& c, corio::net::write_half wr) {
  auto& sub = *c.s.sub;
  const auto token = c.stop.get_token();
  // References to the messages being written and their slices: one message
  // published to many subscribers stays one copy until the last has
  // written it.
  std::array<message, batch_messages> batch;
  std::array<corio::io_slice, batch_messages> slices;
  for (;;) {
    auto first = co_await sub.out.receive(token);
    if (!first) break;  // closed and drained (QUIT), or stopped
    std::size_t n = 0, bytes = 0;
    batch[n++] = std::move(*first);
    // Whatever else is queued goes in the same write.
    while (n < batch.size()) {
      auto more = sub.out.try_receive();
      if (!more) break;
      batch[n++] = std::move(*more);
    }
    for (std::size_t i = 0; i < n; ++i) {
      slices[i] = corio::as_slice(*batch[i]);
      bytes += batch[i]->size();
    }
    auto w = co_await corio::with_stop(wr.write_all(std::span(slices).first(n)), token);
    for (std::size_t i = 0; i < n; ++i) batch[i].reset();
    sub.queued.fetch_sub(bytes, std::memory_order_relaxed);
    if (!w) break;
  }
  c.writer_done.request_stop();
  c.stop.request_stop();
}

}  // namespace kv
