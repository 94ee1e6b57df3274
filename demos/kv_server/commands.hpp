// demos/kv_server/commands.hpp: the command table and what each command
// does, with Redis's replies and errors (written from the Redis command
// reference; tests/kv/commands_test.cpp holds the expectations).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "kv_server/pubsub.hpp"
#include "kv_server/store.hpp"

namespace kv {

/// The server's settings, as CONFIG GET and INFO report them.
struct options {
  /// The largest request (query buffer) a client may send; past it the
  /// connection is closed (Redis's client-query-buffer-limit).
  std::size_t max_request = 64 * 1024 * 1024;
  /// Replies and messages queued for one subscriber, at most (a count,
  /// allocated on its first SUBSCRIBE) ...
  std::size_t pubsub_queue = 4096;
  /// ... and their bytes (client-output-buffer-limit pubsub, hard limit).
  std::size_t pubsub_limit = 32 * 1024 * 1024;
  /// How often the active expiry runs (Redis: 10 times a second).
  std::chrono::milliseconds expire_period{100};
  /// Stripes of the keyspace (rounded up to a power of two).
  std::size_t shards = 256;
  /// Worker threads, for INFO.
  unsigned threads = 1;
};

/// Shared by every connection of one server.
struct context {
  context(const options& o, clock_fn clock)
      : opts(o), db(std::move(clock), o.shards), started_ms(wall_clock_ms()) {}
  const options opts;
  store db;
  pubsub ps;
  const std::int64_t started_ms;
  std::uint16_t port = 0;  // for INFO, set once the listener is bound
  std::atomic<std::int64_t> connected{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> next_client_id{1};
  std::atomic<std::uint64_t> pubsub_disconnects{0};
};

/// One connection's state.
struct session {
  explicit session(std::uint64_t client_id) noexcept : id(client_id) {}
  const std::uint64_t id;
  std::string name;       // CLIENT SETNAME
  bool quit = false;      // QUIT: close once the reply is out
  /// Created by the first SUBSCRIBE / PSUBSCRIBE; from then on every reply
  /// goes through its channel (see pubsub.hpp).
  std::unique_ptr<subscriber> sub;
};

/// Runs one request (argv non-empty) and appends its reply to `out`. Once
/// the session has a subscriber, replies that must be ordered with
/// messages are moved from `out` into its channel.
void execute(context& ctx, session& s, std::span<const std::string_view> argv, std::string& out);

/// Moves `out` into the subscriber's channel (offering it like a message:
/// the output limit applies). No-op when `out` is empty.
void deliver(session& s, std::string& out, kick_list& kicks);

/// Commands in the table (COMMAND COUNT).
std::size_t command_count() noexcept;

}  // namespace kv
