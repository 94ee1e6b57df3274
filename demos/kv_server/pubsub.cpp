// demos/kv_server/pubsub.cpp: see pubsub.hpp.
#include "kv_server/pubsub.hpp"

#include <algorithm>

#include "kv_server/glob.hpp"
#include "kv_server/resp.hpp"

namespace kv {

bool kick_list::offer(subscriber& s, const message& m) {
  if (s.kicked.load(std::memory_order_relaxed)) return false;
  const std::size_t q = s.queued.fetch_add(m->size(), std::memory_order_relaxed) + m->size();
  if (q <= s.limit && s.out.try_send(message(m))) return true;
  s.queued.fetch_sub(m->size(), std::memory_order_relaxed);
  if (!s.kicked.exchange(true, std::memory_order_acq_rel)) kicks_.push_back(s.kick);
  return false;
}

pubsub::stripe& pubsub::stripe_of(std::string_view channel) noexcept {
  return stripes_[std::hash<std::string_view>{}(channel) % stripes_.size()];
}

void pubsub::subscribe(subscriber& s, std::string_view channel, const message& reply,
                       kick_list& kicks) {
  auto& st = stripe_of(channel);
  std::lock_guard lock(st.mu);
  if (s.channels.emplace(channel).second) st.subs[std::string(channel)].push_back(&s);
  kicks.offer(s, reply);
}

void pubsub::unsubscribe(subscriber& s, std::string_view channel, const message& reply,
                         kick_list& kicks) {
  auto& st = stripe_of(channel);
  std::lock_guard lock(st.mu);
  if (auto it = s.channels.find(channel); it != s.channels.end()) {
    s.channels.erase(it);
    auto list = st.subs.find(std::string(channel));
    std::erase(list->second, &s);
    if (list->second.empty()) st.subs.erase(list);
  }
  kicks.offer(s, reply);
}

void pubsub::psubscribe(subscriber& s, std::string_view pattern, const message& reply,
                        kick_list& kicks) {
  std::lock_guard lock(patterns_mu_);
  if (s.patterns.emplace(pattern).second) {
    patterns_.emplace_back(std::string(pattern), &s);
    pattern_count_.store(patterns_.size(), std::memory_order_release);
  }
  kicks.offer(s, reply);
}

void pubsub::punsubscribe(subscriber& s, std::string_view pattern, const message& reply,
                          kick_list& kicks) {
  std::lock_guard lock(patterns_mu_);
  if (auto it = s.patterns.find(pattern); it != s.patterns.end()) {
    s.patterns.erase(it);
    std::erase_if(patterns_, [&](const auto& p) { return p.second == &s && p.first == pattern; });
    pattern_count_.store(patterns_.size(), std::memory_order_release);
  }
  kicks.offer(s, reply);
}

void pubsub::unsubscribe_all(subscriber& s) {
  for (const auto& channel : s.channels) {
    auto& st = stripe_of(channel);
    std::lock_guard lock(st.mu);
    auto list = st.subs.find(channel);
    std::erase(list->second, &s);
    if (list->second.empty()) st.subs.erase(list);
  }
  s.channels.clear();
  if (!s.patterns.empty()) {
    std::lock_guard lock(patterns_mu_);
    std::erase_if(patterns_, [&](const auto& p) { return p.second == &s; });
    pattern_count_.store(patterns_.size(), std::memory_order_release);
    s.patterns.clear();
  }
}

std::size_t pubsub::publish(std::string_view channel, std::string_view payload) {
  std::size_t receivers = 0;
  kick_list kicks;  // declared first: stops after the locks are released
  {
    auto& st = stripe_of(channel);
    std::lock_guard lock(st.mu);
    if (auto it = st.subs.find(std::string(channel)); it != st.subs.end()) {
      auto m = std::make_shared<std::string>();
      reply::array(*m, 3);
      reply::bulk(*m, "message");
      reply::bulk(*m, channel);
      reply::bulk(*m, payload);
      const message shared = std::move(m);
      for (auto* s : it->second) receivers += kicks.offer(*s, shared) ? 1 : 0;
    }
  }
  if (pattern_count_.load(std::memory_order_acquire) != 0) {
    std::lock_guard lock(patterns_mu_);
    for (auto& [pattern, s] : patterns_) {
      if (!glob_match(pattern, channel)) continue;
      auto m = std::make_shared<std::string>();
      reply::array(*m, 4);
      reply::bulk(*m, "pmessage");
      reply::bulk(*m, pattern);
      reply::bulk(*m, channel);
      reply::bulk(*m, payload);
      receivers += kicks.offer(*s, m) ? 1 : 0;
    }
  }
  return receivers;
}

std::size_t pubsub::channels() const {
  std::size_t n = 0;
  for (auto& st : stripes_) {
    std::lock_guard lock(st.mu);
    n += st.subs.size();
  }
  return n;
}

std::size_t pubsub::patterns() const {
  std::lock_guard lock(patterns_mu_);
  return patterns_.size();
}

message confirmation(std::string_view kind, std::string_view name, std::size_t count) {
  auto m = std::make_shared<std::string>();
  reply::array(*m, 3);
  reply::bulk(*m, kind);
  reply::bulk(*m, name);
  reply::integer(*m, static_cast<std::int64_t>(count));
  return m;
}

message confirmation_nil(std::string_view kind, std::size_t count) {
  auto m = std::make_shared<std::string>();
  reply::array(*m, 3);
  reply::bulk(*m, kind);
  reply::null(*m);
  reply::integer(*m, static_cast<std::int64_t>(count));
  return m;
}

}  // namespace kv
