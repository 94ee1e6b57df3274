// demos/kv_server/store.cpp: see store.hpp.
#include "kv_server/store.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <chrono>
#include <limits>
#include <new>
#include <vector>

#include "kv_server/glob.hpp"
#include "kv_server/resp.hpp"

namespace kv {

std::int64_t wall_clock_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Reads the clock at most once per command, and only if a key with a time
// to live is touched (most commands never need it).
class lazy_now {
 public:
  explicit lazy_now(const clock_fn& f) noexcept : f_(f) {}
  std::int64_t get() {
    if (!known_) {
      v_ = f_();
      known_ = true;
    }
    return v_;
  }

 private:
  const clock_fn& f_;
  std::int64_t v_ = 0;
  bool known_ = false;
};

constexpr std::string_view not_integer = "ERR value is not an integer or out of range";

}  // namespace

struct store::entry {
  std::string value;
  std::int64_t expire_at = 0;  // absolute ms; 0 = no time to live
};

// One stripe of the keyspace. Aligned to its own cache lines so that two
// workers locking neighbouring shards do not share a line.
struct alignas(64) store::shard {
  using map_type = std::unordered_map<std::string, entry, string_hash, std::equal_to<>>;
  std::mutex mu;
  map_type map;
  // The keys of `map` that have a time to live; the views point at the
  // map's node keys, which never move while the node exists.
  std::unordered_set<std::string_view, string_hash, std::equal_to<>> expiring;
  std::size_t expire_cursor = 0;  // the bucket of `expiring` to sample next

  void erase(map_type::iterator it) {
    if (it->second.expire_at != 0) expiring.erase(std::string_view(it->first));
    map.erase(it);
  }
  void set_ttl(map_type::iterator it, std::int64_t at) {
    if (at != 0 && it->second.expire_at == 0) expiring.insert(std::string_view(it->first));
    if (at == 0 && it->second.expire_at != 0) expiring.erase(std::string_view(it->first));
    it->second.expire_at = at;
  }
  // The live entry for `key`, deleting it first if it has expired.
  map_type::iterator find(std::string_view key, lazy_now& now, std::atomic<std::uint64_t>& expired) {
    auto it = map.find(key);
    if (it != map.end() && it->second.expire_at != 0 && it->second.expire_at <= now.get()) {
      erase(it);
      expired.fetch_add(1, std::memory_order_relaxed);
      return map.end();
    }
    return it;
  }
  map_type::iterator insert(std::string_view key, std::string_view value) {
    return map.emplace(std::string(key), entry{std::string(value), 0}).first;
  }
};

store::store(clock_fn now, std::size_t shards)
    : now_(std::move(now)),
      mask_(std::bit_ceil(std::max<std::size_t>(shards, 1)) - 1),
      shards_(std::make_unique<shard[]>(mask_ + 1)) {}

store::~store() = default;

std::size_t store::index_of(std::string_view key) const noexcept {
  const std::size_t h = string_hash{}(key);
  // The map uses h modulo a prime for its buckets; take the shard from the
  // high bits so the two stay independent.
  return (h >> 40 ^ h >> 20) & mask_;
}

store::shard& store::shard_of(std::string_view key) noexcept { return shards_[index_of(key)]; }

// Locks the shards of keys[0], keys[stride], ... in index order (each once),
// runs f, unlocks.
template <class F>
void store::with_shards_of(std::span<const std::string_view> keys, std::size_t stride, F&& f) {
  std::array<std::size_t, 16> small;
  std::vector<std::size_t> large;
  const std::size_t n = (keys.size() + stride - 1) / stride;
  std::span<std::size_t> idx;
  if (n <= small.size()) {
    idx = std::span(small).first(n);
  } else {
    large.resize(n);
    idx = large;
  }
  for (std::size_t i = 0; i < n; ++i) idx[i] = index_of(keys[i * stride]);
  std::sort(idx.begin(), idx.end());
  const auto end = std::unique(idx.begin(), idx.end());
  for (auto it = idx.begin(); it != end; ++it) shards_[*it].mu.lock();
  struct unlock_all {
    store& s;
    std::span<std::size_t> locked;
    ~unlock_all() {
      for (auto i : locked) s.shards_[i].mu.unlock();
    }
  } guard{*this, std::span(idx.begin(), end)};
  f();
}

void store::get(std::string_view key, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  if (it == s.map.end()) return reply::null(out);
  reply::bulk(out, it->second.value);
}

void store::getdel(std::string_view key, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  if (it == s.map.end()) return reply::null(out);
  reply::bulk(out, it->second.value);
  s.erase(it);
}

void store::set(std::string_view key, std::string_view value, const set_options& opt, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  const bool present = it != s.map.end();
  if (opt.get) {
    if (present) {
      reply::bulk(out, it->second.value);
    } else {
      reply::null(out);
    }
  }
  using cond = set_options::condition;
  if ((opt.when == cond::if_absent && present) || (opt.when == cond::if_present && !present)) {
    if (!opt.get) reply::null(out);
    return;
  }
  if (present) {
    it->second.value.assign(value);
  } else {
    it = s.insert(key, value);
  }
  if (!opt.keep_ttl) s.set_ttl(it, opt.expire_at);
  if (!opt.get) reply::ok(out);
}

void store::mget(std::span<const std::string_view> keys, std::string& out) {
  lazy_now now(now_);
  reply::array(out, keys.size());
  with_shards_of(keys, 1, [&] {
    for (auto key : keys) {
      auto& s = shard_of(key);
      auto it = s.find(key, now, expired_);
      if (it == s.map.end()) {
        reply::null(out);
      } else {
        reply::bulk(out, it->second.value);
      }
    }
  });
}

void store::mset(std::span<const std::string_view> kv, std::string& out) {
  lazy_now now(now_);
  with_shards_of(kv, 2, [&] {
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
      auto& s = shard_of(kv[i]);
      auto it = s.map.find(kv[i]);
      if (it == s.map.end()) {
        s.insert(kv[i], kv[i + 1]);
      } else {
        it->second.value.assign(kv[i + 1]);
        s.set_ttl(it, 0);
      }
    }
  });
  reply::ok(out);
}

void store::del(std::span<const std::string_view> keys, std::string& out) {
  lazy_now now(now_);
  std::int64_t n = 0;
  with_shards_of(keys, 1, [&] {
    for (auto key : keys) {
      auto& s = shard_of(key);
      auto it = s.find(key, now, expired_);
      if (it == s.map.end()) continue;
      s.erase(it);
      ++n;
    }
  });
  reply::integer(out, n);
}

void store::exists(std::span<const std::string_view> keys, std::string& out) {
  lazy_now now(now_);
  std::int64_t n = 0;
  with_shards_of(keys, 1, [&] {
    for (auto key : keys) {
      auto& s = shard_of(key);
      if (s.find(key, now, expired_) != s.map.end()) ++n;
    }
  });
  reply::integer(out, n);
}

void store::incr_by(std::string_view key, std::int64_t delta, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  std::int64_t v = 0;
  if (it != s.map.end() && !parse_int64(it->second.value, v)) return reply::error(out, not_integer);
  std::int64_t r;
  if (__builtin_add_overflow(v, delta, &r)) {
    return reply::error(out, "ERR increment or decrement would overflow");
  }
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, r);
  (void)ec;  // an int64 always fits
  const std::string_view text(buf, static_cast<std::size_t>(end - buf));
  if (it == s.map.end()) {
    s.insert(key, text);
  } else {
    it->second.value.assign(text);  // the time to live stays, as in Redis
  }
  reply::integer(out, r);
}

void store::append(std::string_view key, std::string_view value, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  if (it == s.map.end()) {
    if (static_cast<std::int64_t>(value.size()) > max_bulk_len) {
      return reply::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    it = s.insert(key, value);
  } else {
    if (static_cast<std::int64_t>(it->second.value.size() + value.size()) > max_bulk_len) {
      return reply::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    it->second.value.append(value);
  }
  reply::integer(out, static_cast<std::int64_t>(it->second.value.size()));
}

void store::strlen(std::string_view key, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  reply::integer(out, it == s.map.end() ? 0 : static_cast<std::int64_t>(it->second.value.size()));
}

void store::expire_at(std::string_view key, std::int64_t at, expire_condition cond, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  if (it == s.map.end()) return reply::integer(out, 0);
  const std::int64_t current = it->second.expire_at;  // 0: none, which counts as forever
  bool ok = true;
  switch (cond) {
    case expire_condition::always: break;
    case expire_condition::nx: ok = current == 0; break;
    case expire_condition::xx: ok = current != 0; break;
    case expire_condition::gt: ok = current != 0 && at > current; break;
    case expire_condition::lt: ok = current == 0 || at < current; break;
  }
  if (!ok) return reply::integer(out, 0);
  if (at <= now.get()) {
    s.erase(it);  // a time in the past deletes the key (not counted as expired)
  } else {
    s.set_ttl(it, at);
  }
  reply::integer(out, 1);
}

void store::ttl(std::string_view key, bool millis, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  if (it == s.map.end()) return reply::integer(out, -2);
  if (it->second.expire_at == 0) return reply::integer(out, -1);
  const std::int64_t left = std::max<std::int64_t>(it->second.expire_at - now.get(), 0);
  reply::integer(out, millis ? left : (left + 500) / 1000);
}

void store::persist(std::string_view key, std::string& out) {
  auto& s = shard_of(key);
  lazy_now now(now_);
  std::lock_guard lock(s.mu);
  auto it = s.find(key, now, expired_);
  if (it == s.map.end() || it->second.expire_at == 0) return reply::integer(out, 0);
  s.set_ttl(it, 0);
  reply::integer(out, 1);
}

void store::keys(std::string_view pattern, std::string& out) {
  const std::int64_t now = now_();
  const bool all = pattern == "*";
  std::string body;
  std::size_t n = 0;
  for (std::size_t i = 0; i <= mask_; ++i) {
    auto& s = shards_[i];
    std::lock_guard lock(s.mu);
    for (auto& [k, e] : s.map) {
      if (e.expire_at != 0 && e.expire_at <= now) continue;
      if (!all && !glob_match(pattern, k)) continue;
      reply::bulk(body, k);
      ++n;
    }
  }
  reply::array(out, n);
  out.append(body);
}

void store::scan(std::uint64_t cursor, std::string_view pattern, std::size_t count, bool type_ok,
                 std::string& out) {
  // The cursor: the shard in the low bits, the bucket above them. 0 starts
  // and ends an iteration.
  const unsigned shard_bits = static_cast<unsigned>(std::bit_width(mask_));
  std::size_t si = static_cast<std::size_t>(cursor & mask_);
  std::uint64_t bucket = cursor >> shard_bits;
  const std::int64_t now = now_();
  const bool all = pattern == "*";
  std::string body;
  std::size_t n = 0, visited = 0;
  std::uint64_t next = 0;
  while (si <= mask_) {
    auto& s = shards_[si];
    std::lock_guard lock(s.mu);
    const std::size_t buckets = s.map.bucket_count();
    while (bucket < buckets && visited < count) {
      const auto b = static_cast<std::size_t>(bucket);
      for (auto it = s.map.begin(b); it != s.map.end(b); ++it) {
        ++visited;
        const auto& [k, e] = *it;
        if (e.expire_at != 0 && e.expire_at <= now) continue;
        if (!type_ok || (!all && !glob_match(pattern, k))) continue;
        reply::bulk(body, k);
        ++n;
      }
      ++bucket;
    }
    if (bucket < buckets) {
      next = (bucket << shard_bits) | si;
      break;
    }
    ++si;
    bucket = 0;
    if (visited >= count) {
      if (si <= mask_) next = si;  // bucket 0 of the next shard
      break;
    }
  }
  reply::array(out, 2);
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, next);
  (void)ec;
  reply::bulk(out, std::string_view(buf, static_cast<std::size_t>(end - buf)));
  reply::array(out, n);
  out.append(body);
}

void store::flush() {
  for (std::size_t i = 0; i <= mask_; ++i) {
    auto& s = shards_[i];
    std::lock_guard lock(s.mu);
    s.expiring.clear();
    s.map.clear();
    s.expire_cursor = 0;
  }
}

std::size_t store::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i <= mask_; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].map.size();
  }
  return n;
}

std::size_t store::expires() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i <= mask_; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].expiring.size();
  }
  return n;
}

std::size_t store::active_expire_cycle() {
  constexpr std::size_t sample = 20;
  constexpr int max_rounds = 16;
  const std::int64_t now = now_();
  std::size_t deleted = 0;
  std::vector<std::string_view> doomed;
  for (std::size_t i = 0; i <= mask_; ++i) {
    auto& s = shards_[i];
    std::lock_guard lock(s.mu);
    for (int round = 0; round < max_rounds && !s.expiring.empty(); ++round) {
      // Walks whole buckets from the cursor until `sample` keys were seen.
      const std::size_t buckets = s.expiring.bucket_count();
      std::size_t seen = 0;
      doomed.clear();
      for (std::size_t visited = 0; visited < buckets && seen < sample; ++visited) {
        const std::size_t b = s.expire_cursor++ % buckets;
        for (auto it = s.expiring.begin(b); it != s.expiring.end(b); ++it) {
          ++seen;
          auto m = s.map.find(*it);
          if (m->second.expire_at <= now) doomed.push_back(*it);
        }
      }
      for (auto key : doomed) s.erase(s.map.find(key));
      deleted += doomed.size();
      if (doomed.size() * 4 <= seen) break;  // few expired: enough for now
    }
  }
  expired_.fetch_add(deleted, std::memory_order_relaxed);
  return deleted;
}

}  // namespace kv
