// lib/core/stop_registry.cpp: with_stop's per-worker cancellation lists.
#include "core/stop_registry.hpp"

#include <algorithm>

#include "backend/backend.hpp"

namespace corio::detail {

namespace {
// Watches for tokens with no operation left are dropped once a worker has
// seen this many distinct tokens, so short-lived stop sources do not pile
// up; below it they stay, so a token used by one operation at a time does
// not register and remove a std::stop_callback each time.
constexpr std::size_t kept_watches = 8;
}  // namespace

// The operations of one worker that wait on one token.
struct stop_registry::watch {
  struct fire {
    watch* self;
    // Any thread, once: flag and wake the worker; it cancels on its own.
    void operator()() const noexcept {
      self->fired.store(true, std::memory_order_release);
      self->owner.stopped_.store(true, std::memory_order_release);
      self->owner.io_.wake();
    }
  };

  watch(stop_registry& r, const std::stop_token& t) : owner(r), token(t) {}

  stop_registry& owner;
  std::stop_token token;
  // ops[i] is null when slot i is free; free_slots lists those.
  std::vector<operation*> ops;
  std::vector<std::uint32_t> free_slots;
  std::size_t live = 0;
  bool swept = false;
  std::atomic<bool> fired{false};
  // Last: registered when the rest is ready; destroyed first, waiting for a
  // callback that is running on another thread.
  std::optional<std::stop_callback<fire>> callback;
};

stop_registry::stop_registry(backend& io) noexcept : io_(io) {}
stop_registry::~stop_registry() = default;

stop_registry::watch* stop_registry::find_or_make(const std::stop_token& token) noexcept {
  for (auto& w : watches_) {
    if (w->token == token) return w.get();
  }
  if (watches_.size() >= kept_watches) {
    std::erase_if(watches_, [](const std::unique_ptr<watch>& w) { return w->live == 0; });
  }
  try {
    watches_.push_back(std::make_unique<watch>(*this, token));
  } catch (...) {
    return nullptr;
  }
  watch* w = watches_.back().get();
  // Runs fire() at once if the token was stopped meanwhile.
  w->callback.emplace(token, watch::fire{w});
  return w;
}

bool stop_registry::add(const std::stop_token& token, operation& op, stop_link& link) noexcept {
  watch* w = find_or_make(token);
  if (!w) return false;
  std::uint32_t slot;
  if (!w->free_slots.empty()) {
    slot = w->free_slots.back();
    w->free_slots.pop_back();
    w->ops[slot] = &op;
  } else {
    try {
      // remove() pushes a freed slot without allocating: free_slots has
      // room for every slot.
      if (w->ops.size() == w->ops.capacity()) {
        const std::size_t cap = std::max<std::size_t>(16, 2 * w->ops.capacity());
        w->free_slots.reserve(cap);
        w->ops.reserve(cap);
      }
    } catch (...) {
      return false;
    }
    w->ops.push_back(&op);
    slot = static_cast<std::uint32_t>(w->ops.size() - 1);
  }
  ++w->live;
  link.watch = w;
  link.slot = slot;
  return true;
}

void stop_registry::remove(stop_link& link) noexcept {
  auto* w = static_cast<watch*>(link.watch);
  w->ops[link.slot] = nullptr;
  w->free_slots.push_back(link.slot);
  --w->live;
  link.watch = nullptr;
}

void stop_registry::sweep() noexcept {
  if (!stopped_.exchange(false, std::memory_order_acquire)) return;
  for (auto& w : watches_) {
    if (w->swept || !w->fired.load(std::memory_order_acquire)) continue;
    w->swept = true;
    // A cancel never completes the operation inline, so no slot changes
    // during this loop. Operations added later saw stop_requested() first.
    for (operation* op : w->ops) {
      if (op) cancel_owned(&io_, *op);
    }
  }
}

}  // namespace corio::detail
