// demos/kv_server/server.hpp: the accept loop and one connection's loop.
//
// A connection is one coroutine, as in Redis one client is one query
// buffer: read as much as the socket has, parse and run every complete
// request in the buffer, append each reply to one output buffer, and write
// that buffer with one write before reading again (pipelining, replies
// coalesced). Requests larger than options::max_request close the
// connection before the buffer grows past that; a protocol error gets
// Redis's "-ERR Protocol error: ..." and then the connection closes.
//
// After its first SUBSCRIBE a connection also gets a writer coroutine that
// drains its subscriber channel (pubsub.hpp); from then on the connection's
// own replies go through that channel too, so replies and messages leave
// in one order and only the writer writes the socket.
#pragma once

#include <cstdint>
#include <stop_token>

#include "corio/corio.hpp"
#include "kv_server/commands.hpp"

namespace kv {

class server {
 public:
  /// A server with `opts`, whose keys expire by `clock` (tests pass their own).
  explicit server(options opts = {}, clock_fn clock = wall_clock_ms);
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Accepts connections on `listener` until `stop` is triggered (or the
  /// listener fails) and runs the active expiry every
  /// options::expire_period; then closes every connection and returns once
  /// all of them have ended. Run it on a runtime worker.
  corio::task<void> serve(corio::net::tcp_listener& listener, std::stop_token stop);

  /// The shared state: the store, the pub/sub registry, the counters.
  context& state() noexcept { return ctx_; }

 private:
  struct connection;
  corio::task<void> run_connection(corio::net::tcp_stream stream, std::stop_token stop);
  corio::task<void> writer(connection& c, corio::net::write_half wr);
  corio::task<void> expire_loop(std::stop_token stop);

  context ctx_;
};

}  // namespace kv
