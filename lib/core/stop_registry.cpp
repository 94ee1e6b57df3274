// lib/core/stop_registry.cpp: with_stop's per-worker cancellation lists.
#include "core/stop_registry.hpp"

#include <cstring>
#include <optional>
#include <vector>

#include "backend/backend.hpp"
#include "core/fault.hpp"

namespace corio::detail {

namespace {
// Watches with no operation that a worker keeps, so that a token used by
// one operation at a time (a connection's reads and writes, one after the
// other) does not register and remove a std::stop_callback each time.
// Beyond this many the least recently used is dropped: short-lived stop
// sources do not pile up.
constexpr std::size_t kept_idle_watches = 256;

// The identity of a token's shared stop state. std::stop_token is one
// pointer to that state in libstdc++ and libc++ (checked below); equal
// tokens share it, and a watch keeps its token, so the state (and this key)
// cannot be reused while the watch lives. find_or_make also compares the
// tokens themselves.
std::uintptr_t key_of(const std::stop_token& token) noexcept {
  static_assert(sizeof(std::stop_token) == sizeof(std::uintptr_t),
                "std::stop_token is expected to hold one pointer to its shared state");
  std::uintptr_t key;
  std::memcpy(&key, reinterpret_cast<const unsigned char*>(&token), sizeof key);
  return key;
}
}  // namespace

// The operations of one worker that wait on one token.
struct stop_registry::watch {
  struct fire {
    watch* self;
    // Any thread, once: hand the watch to the worker; it cancels on its own
    // thread before its next poll. Only another thread needs to wake it.
    void operator()() const noexcept {
      stop_registry& r = self->owner;
      watch* head = r.fired_.load(std::memory_order_relaxed);
      do {
        self->fired_next = head;
      } while (!r.fired_.compare_exchange_weak(head, self, std::memory_order_release,
                                               std::memory_order_relaxed));
      if (current_backend() != &r.io_) r.io_.wake();
    }
  };

  watch(stop_registry& r, const std::stop_token& t, std::uintptr_t k) : owner(r), token(t), key(k) {}

  // A slot holds a waiting operation's address, or, when free, the next
  // free slot as (index + 1) << 1 | 1 (operations are aligned: bit 0 tells
  // them apart). One array, so adding and removing touch one line of it.
  static bool is_free(std::uintptr_t slot) noexcept { return slot & 1; }

  stop_registry& owner;
  std::stop_token token;
  const std::uintptr_t key;
  std::vector<std::uintptr_t> slots;
  std::uintptr_t free_head = 0;  // index + 1 of the first free slot; 0: none
  std::size_t live = 0;
  bool swept = false;
  watch* fired_next = nullptr;  // link in owner.fired_
  // Links in the idle list while live == 0.
  watch* idle_prev = nullptr;
  watch* idle_next = nullptr;
  bool idle = false;
  // Last: registered when the rest is ready; destroyed first, waiting for a
  // callback that is running on another thread.
  std::optional<std::stop_callback<fire>> callback;
};

stop_registry::stop_registry(backend& io) noexcept
    : io_(io), usable_(!io.cancel_from_any_thread()) {}

stop_registry::~stop_registry() {
  // Stop callbacks first: none may push onto fired_ while watches go away.
  for (auto& [key, w] : watches_) w->callback.reset();
}

void stop_registry::idle_push(watch& w) noexcept {
  w.idle = true;
  w.idle_next = nullptr;
  w.idle_prev = idle_tail_;
  if (idle_tail_) idle_tail_->idle_next = &w; else idle_head_ = &w;
  idle_tail_ = &w;
  ++idle_count_;
}

void stop_registry::idle_unlink(watch& w) noexcept {
  if (w.idle_prev) w.idle_prev->idle_next = w.idle_next; else idle_head_ = w.idle_next;
  if (w.idle_next) w.idle_next->idle_prev = w.idle_prev; else idle_tail_ = w.idle_prev;
  w.idle_prev = w.idle_next = nullptr;
  w.idle = false;
  --idle_count_;
}

void stop_registry::evict_oldest_idle() noexcept {
  watch* w = idle_head_;
  idle_unlink(*w);
  // Waits for a callback running on another thread; after this none can
  // push the watch. One that already did is still on fired_: drain it.
  w->callback.reset();
  if (fired_.load(std::memory_order_acquire)) sweep();
  watches_.erase(w->key);
}

stop_registry::watch* stop_registry::find_or_make(const std::stop_token& token) noexcept {
  const std::uintptr_t key = key_of(token);
  if (auto it = watches_.find(key); it != watches_.end() && it->second->token == token) {
    return it->second.get();
  }
  while (idle_count_ >= kept_idle_watches) evict_oldest_idle();
  watch* w;
  try {
    auto [it, inserted] = watches_.try_emplace(key, std::make_unique<watch>(*this, token, key));
    if (!inserted) return nullptr;  // cannot happen: equal keys are equal tokens
    w = it->second.get();
  } catch (...) {
    return nullptr;
  }
  // Starts with no operation: idle until add() takes it out.
  idle_push(*w);
  // Runs fire() at once if the token was stopped meanwhile.
  w->callback.emplace(token, watch::fire{w});
  return w;
}

bool stop_registry::add(const std::stop_token& token, operation& op, stop_link& link) noexcept {
  if (!usable_) return false;
  // Injected: as if the map or a slot array could not grow.
  if (fault_hit(fault_site::stop_registry_alloc)) return false;
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
  if (w->live++ == 0 && w->idle) idle_unlink(*w);
  link.watch = w;
  link.slot = static_cast<std::uint32_t>(slot);
  return true;
}

void stop_registry::remove(stop_link& link) noexcept {
  auto* w = static_cast<watch*>(link.watch);
  w->slots[link.slot] = (w->free_head << 1) | 1;
  w->free_head = link.slot + 1;
  if (--w->live == 0) w->owner.idle_push(*w);
  link.watch = nullptr;
}

void stop_registry::sweep() noexcept {
  watch* w = fired_.exchange(nullptr, std::memory_order_acquire);
  for (; w; w = w->fired_next) {
    if (w->swept) continue;
    w->swept = true;
    // A cancel never completes the operation inline, so no slot changes
    // during this loop. Operations added later saw stop_requested() first.
    for (std::uintptr_t slot : w->slots) {
      if (!watch::is_free(slot)) cancel_owned(&io_, *reinterpret_cast<operation*>(slot));
    }
  }
}

}  // namespace corio::detail
