// demos/kv_server/store.hpp: the keyspace, striped into shards.
//
// Each key belongs to one shard by its hash; a shard is a hash map and a
// mutex of its own, so workers that touch different keys never wait for
// each other, and one worker alone takes only uncontended locks (no global
// lock anywhere on a GET or a SET). Commands on several keys (MGET, MSET,
// DEL, EXISTS) lock every shard they touch, in shard order, so they are
// atomic like Redis's. docs/kv-server.md says why stripes and not per-worker
// shards.
//
// Expiry as in Redis: a key past its time is deleted when a command touches
// it (lazy), and active_expire_cycle(), which the server runs on a timer,
// samples the keys that have a time to live and deletes the expired ones,
// so keys nobody reads do not stay in memory. Times are milliseconds from
// the clock given at construction (the wall clock by default; tests pass
// their own).
//
// Every operation that answers a client appends its RESP2 reply to `out`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace kv {

/// Milliseconds since the Unix epoch (or any epoch, for a test clock).
using clock_fn = std::function<std::int64_t()>;

/// The wall clock in milliseconds, as Redis's mstime().
std::int64_t wall_clock_ms() noexcept;

/// SET's options, parsed by the command layer.
struct set_options {
  enum class condition { always, if_absent, if_present } when = condition::always;  // NX, XX
  bool get = false;         // GET: reply with the old value
  bool keep_ttl = false;    // KEEPTTL
  std::int64_t expire_at = 0;  // absolute ms (EX, PX, EXAT, PXAT); 0 = none
};

/// EXPIRE's NX / XX / GT / LT.
enum class expire_condition { always, nx, xx, gt, lt };

class store {
 public:
  /// `shards` is rounded up to a power of two.
  explicit store(clock_fn now = wall_clock_ms, std::size_t shards = 256);
  store(const store&) = delete;
  store& operator=(const store&) = delete;
  ~store();

  /// Now, by the store's clock.
  std::int64_t now() const { return now_(); }

  void get(std::string_view key, std::string& out);
  void getdel(std::string_view key, std::string& out);
  /// SET with `opt`: +OK, or nil when NX/XX failed; with GET, the old value.
  void set(std::string_view key, std::string_view value, const set_options& opt, std::string& out);
  void mget(std::span<const std::string_view> keys, std::string& out);
  /// `kv` alternates keys and values.
  void mset(std::span<const std::string_view> kv, std::string& out);
  /// Keys deleted (DEL) or present (EXISTS; a key named twice counts twice).
  void del(std::span<const std::string_view> keys, std::string& out);
  void exists(std::span<const std::string_view> keys, std::string& out);
  /// INCRBY: the new value, or Redis's error for a non-integer value or an overflow.
  void incr_by(std::string_view key, std::int64_t delta, std::string& out);
  void append(std::string_view key, std::string_view value, std::string& out);
  void strlen(std::string_view key, std::string& out);
  /// EXPIRE/PEXPIRE with the absolute time already computed: 1 if set (or
  /// the key deleted because `at` has passed), 0 if the key is missing or
  /// the condition failed.
  void expire_at(std::string_view key, std::int64_t at, expire_condition cond, std::string& out);
  /// TTL (seconds, rounded) or PTTL: -2 missing, -1 no time to live.
  void ttl(std::string_view key, bool millis, std::string& out);
  void persist(std::string_view key, std::string& out);
  /// KEYS pattern: every live key that matches, in no particular order.
  void keys(std::string_view pattern, std::string& out);
  /// SCAN: visits buckets from `cursor` until `count` keys were looked at;
  /// replies [next cursor, [matching keys]]. `type_ok` false (a TYPE other
  /// than string) filters every key out. A key present for the whole
  /// iteration is returned unless its shard grew (rehashed) in between.
  void scan(std::uint64_t cursor, std::string_view pattern, std::size_t count, bool type_ok,
            std::string& out);
  void flush();

  /// Keys, and keys with a time to live (may include expired keys not yet
  /// collected, as Redis's DBSIZE does).
  std::size_t size() const;
  std::size_t expires() const;
  /// Keys deleted for being expired so far (lazily or actively).
  std::uint64_t expired_keys() const noexcept { return expired_.load(std::memory_order_relaxed); }

  /// One run of the active expiry: in each shard, samples up to 20 keys
  /// with a time to live, deletes the expired ones, and samples again while
  /// more than a quarter of a sample had expired (at most 16 rounds per
  /// shard). Returns the keys it deleted.
  std::size_t active_expire_cycle();

 private:
  struct shard;
  struct entry;
  shard& shard_of(std::string_view key) noexcept;
  std::size_t index_of(std::string_view key) const noexcept;
  template <class F>
  void with_shards_of(std::span<const std::string_view> keys, std::size_t stride, F&& f);

  clock_fn now_;
  std::size_t mask_;
  std::unique_ptr<shard[]> shards_;
  std::atomic<std::uint64_t> expired_{0};
};

}  // namespace kv
