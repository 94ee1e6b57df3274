// lib/core/stop_registry.cpp: with_stop's per-worker cancellation lists.
#include "core/stop_registry.hpp"


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
    // Any thread, once: flag the worker; it cancels on its own thread before
    // its next poll. Only another thread needs to wake it for that.
    void operator()() const noexcept {
      self->fired.store(true, std::memory_order_release);
      self->owner.stopped_.store(true, std::memory_order_release);
      if (current_backend() != &self->owner.io_) self->owner.io_.wake();
    }
  };

  watch(stop_registry& r, const std::stop_token& t) : owner(r), token(t) {}

  // A slot holds a waiting operation's address, or, when free, the next
  // free slot as (index + 1) << 1 | 1 (operations are aligned: bit 0 tells
  // them apart). One array, so adding and removing touch one line of it.
  static bool is_free(std::uintptr_t slot) noexcept { return slot & 1; }

  stop_registry& owner;
  std::stop_token token;
  std::vector<std::uintptr_t> slots;
  std::uintptr_t free_head = 0;  // index + 1 of the first free slot; 0: none
  std::size_t live = 0;
  bool swept = false;
  std::atomic<bool> fired{false};
  // Last: registered when the rest is ready; destroyed first, waiting for a
  // callback that is running on another thread.
  std::optional<std::stop_callback<fire>> callback;
};

stop_registry::stop_registry(backend& io) noexcept
    : io_(io), usable_(!io.cancel_from_any_thread()) {}
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
  if (!usable_) return false;
  watch* w = find_or_make(token);
  if (!w) return false;
  std::size_t slot;
  if (w->free_head) {
    slot = w->free_head - 1;
    w->free_head = w->slots[slot] >> 1;
    w->slots[slot] = reinterpret_cast<std::uintptr_t>(&op);
  } else {
    try {
      w->slots.push_back(reinterpret_cast<std::uintptr_t>(&op));
    } catch (...) {
      return false;
    }
    slot = w->slots.size() - 1;
  }
  ++w->live;
  link.watch = w;
  link.slot = static_cast<std::uint32_t>(slot);
  return true;
}

void stop_registry::remove(stop_link& link) noexcept {
  auto* w = static_cast<watch*>(link.watch);
  w->slots[link.slot] = (w->free_head << 1) | 1;
  w->free_head = link.slot + 1;
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
    for (std::uintptr_t slot : w->slots) {
      if (!watch::is_free(slot)) cancel_owned(&io_, *reinterpret_cast<operation*>(slot));
    }
  }
}

}  // namespace corio::detail
