// demos/kv_server/pubsub.hpp: SUBSCRIBE / PSUBSCRIBE / PUBLISH.
//
// A connection that subscribes gets a `subscriber`: a corio channel of
// encoded replies that its writer coroutine drains, and a count of the
// bytes queued in it. PUBLISH encodes a message once and offers it to every
// subscriber of the channel (and of every matching pattern) with try_send,
// under the lock of the channel's stripe: a publisher never waits for a
// subscriber. A subscriber whose queue is full, or whose queued bytes pass
// the output limit (Redis's client-output-buffer-limit pubsub, 32 MB by
// default), is disconnected instead: nothing is ever buffered without
// bound, and one reader that stops reading costs the others nothing.
//
// Lifetimes: the registry holds plain pointers to subscribers. A
// connection removes every subscription of its own (unsubscribe_all)
// before its subscriber is destroyed, under the same locks PUBLISH takes,
// so no publisher can see a freed subscriber.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "corio/sync/channel.hpp"

namespace kv {

/// Encoded replies, shared by every subscriber one message goes to.
using message = std::shared_ptr<const std::string>;

/// One subscribed connection.
struct subscriber {
  /// `capacity` queued replies at most (allocated once), `byte_limit`
  /// queued bytes at most.
  subscriber(std::size_t capacity, std::size_t byte_limit) : out(capacity), limit(byte_limit) {}
  /// Replies for the connection, written in order by its writer.
  corio::channel<message> out;
  /// Bytes in `out` not yet written; the writer subtracts what it wrote.
  std::atomic<std::size_t> queued{0};
  const std::size_t limit;
  /// Triggered once when the output limit is hit: the connection ends.
  std::stop_source kick;
  std::atomic<bool> kicked{false};
  /// The connection's own subscriptions; only its reader touches them.
  std::set<std::string, std::less<>> channels;
  std::set<std::string, std::less<>> patterns;
  std::size_t count() const noexcept { return channels.size() + patterns.size(); }
};

/// Stop sources to trigger after the locks are released (stopping runs the
/// connection's stop callbacks inline, which must not happen under a lock).
class kick_list {
 public:
  kick_list() = default;
  kick_list(const kick_list&) = delete;
  kick_list& operator=(const kick_list&) = delete;
  ~kick_list() {
    for (auto& k : kicks_) k.request_stop();
  }
  /// Queues `m` for `s`, or, when its queue or byte limit is full, marks it
  /// kicked and remembers to stop it. False when `s` is (or now is) kicked.
  bool offer(subscriber& s, const message& m);

 private:
  std::vector<std::stop_source> kicks_;
};

/// The channel and pattern registry, striped by channel name.
class pubsub {
 public:
  /// Subscribes `s` to `channel` unless it already is, then queues `reply`
  /// (the subscribe confirmation) under the same lock, so it reaches the
  /// client before any message of that channel.
  void subscribe(subscriber& s, std::string_view channel, const message& reply, kick_list& kicks);
  void unsubscribe(subscriber& s, std::string_view channel, const message& reply, kick_list& kicks);
  void psubscribe(subscriber& s, std::string_view pattern, const message& reply, kick_list& kicks);
  void punsubscribe(subscriber& s, std::string_view pattern, const message& reply, kick_list& kicks);
  /// Removes every subscription of `s`, queueing nothing.
  void unsubscribe_all(subscriber& s);
  /// Delivers `payload` on `channel`; returns the subscribers it was queued
  /// for (those disconnected by the output limit do not count).
  std::size_t publish(std::string_view channel, std::string_view payload);
  /// Channels with at least one subscriber, and patterns subscribed.
  std::size_t channels() const;
  std::size_t patterns() const;

 private:
  struct stripe {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::vector<subscriber*>> subs;
  };
  stripe& stripe_of(std::string_view channel) noexcept;
  std::array<stripe, 16> stripes_;
  mutable std::mutex patterns_mu_;
  std::vector<std::pair<std::string, subscriber*>> patterns_;  // in subscription order
  std::atomic<std::size_t> pattern_count_{0};  // lets PUBLISH skip the patterns' lock
};

/// The encoded subscribe-family confirmation: [kind, name, count].
message confirmation(std::string_view kind, std::string_view name, std::size_t count);
/// The same with a nil name (UNSUBSCRIBE with no subscription).
message confirmation_nil(std::string_view kind, std::size_t count);

}  // namespace kv
