// lib/core/op_tracker.cpp: the table of operations in flight (see the header).
#include "core/op_tracker.hpp"

#include <chrono>
#include <utility>

#include "core/worker.hpp"
#include "corio/metrics.hpp"
#include "sys/socket.hpp"

namespace corio::detail {

namespace {

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

op_tracker::op_tracker() {
  for (auto& s : stripes_) s.slots.resize(64);
}

std::size_t op_tracker::hash(const operation* op) noexcept {
  // Operations are at least 8-byte aligned; Fibonacci hashing spreads the
  // rest over the high bits, which both the stripe and the slot use.
  const auto a = reinterpret_cast<std::uintptr_t>(op) >> 3;
  return static_cast<std::size_t>((static_cast<std::uint64_t>(a) * 0x9E3779B97F4A7C15ull) >> 32);
}

void op_tracker::insert(stripe& s, const entry& e) {
  if ((s.used + 1) * 2 > s.slots.size()) {
    std::vector<entry> old(s.slots.size() * 2);
    old.swap(s.slots);
    s.used = 0;
    for (const entry& x : old) {
      if (x.op) insert(s, x);
    }
  }
  const std::size_t mask = s.slots.size() - 1;
  for (std::size_t i = (hash(e.op) / stripe_count) & mask;; i = (i + 1) & mask) {
    if (!s.slots[i].op) {
      s.slots[i] = e;
      ++s.used;
      return;
    }
  }
}

bool op_tracker::take(stripe& s, operation* op, entry& out) noexcept {
  const std::size_t mask = s.slots.size() - 1;
  std::size_t i = (hash(op) / stripe_count) & mask;
  for (;; i = (i + 1) & mask) {
    if (!s.slots[i].op) return false;
    if (s.slots[i].op == op) break;
  }
  out = s.slots[i];
  // Backward shift: move later entries of the probe run into the hole, so
  // a lookup never stops early at it.
  for (std::size_t j = (i + 1) & mask; s.slots[j].op; j = (j + 1) & mask) {
    const std::size_t home = (hash(s.slots[j].op) / stripe_count) & mask;
    // Moves when its home is not cyclically in (i, j].
    if (((j - home) & mask) >= ((j - i) & mask)) {
      s.slots[i] = s.slots[j];
      i = j;
    }
  }
  s.slots[i] = entry{};
  --s.used;
  return true;
}

bool op_tracker::start(worker& w, operation& op) noexcept {
  stripe& s = stripe_of(&op);
  {
    std::lock_guard lock(s.mu);
    // Growing the table may throw only when memory is gone; in this
    // noexcept function that terminates, loudly, rather than lose track.
    insert(s, entry{&op, op.complete, now_ns(), op.code == op_code::timer ? nullptr : op.sock,
                    w.index(), op.code});
    op.complete = on_complete;
  }
  // TRICKY: from here on (IOCP) another worker may complete op, run
  // on_complete and resume the coroutine before start returns: op is not
  // touched again unless start says it finished inline, and then no
  // completion will ever come.
  if (w.io().start(op)) return true;
  entry e;
  std::lock_guard lock(s.mu);
  if (take(s, &op, e)) op.complete = e.complete;
  return false;
}

void op_tracker::on_complete(operation* op) noexcept {
  // A completion runs on a worker of the runtime that started op: this
  // runtime's tracker.
  op_tracker& self = *worker::current()->tracker();
  stripe& s = self.stripe_of(op);
  entry e;
  {
    std::lock_guard lock(s.mu);
    // Always there: only on_complete and a start that finished inline take
    // an entry out, and each operation ends one way.
    self.take(s, op, e);
  }
  op->complete = e.complete;
  op->complete(op);
}

void op_tracker::collect(std::vector<operation_info>& out) const {
  const std::int64_t now = now_ns();
  for (const stripe& s : stripes_) {
    std::lock_guard lock(s.mu);
    for (const entry& e : s.slots) {
      if (!e.op) continue;
      operation_info info;
      info.worker = e.worker;
      info.kind = operation_kind_name(static_cast<std::size_t>(e.code));
      info.waiting = std::chrono::nanoseconds(now - e.since_ns);
      // The socket outlives every operation on it, and this one is still
      // in flight while its entry is here (under the lock).
      if (e.sock) {
        info.socket = static_cast<std::int64_t>(e.sock->handle);
        if (auto peer = sys::peer_endpoint(e.sock->handle)) {
          info.address = "peer " + peer->to_string();
        } else if (auto local = sys::local_endpoint(e.sock->handle)) {
          info.address = "local " + local->to_string();
        }
      }
      out.push_back(std::move(info));
    }
  }
}

}  // namespace corio::detail
