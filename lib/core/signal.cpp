// lib/core/signal.cpp: the process-wide list of coroutines waiting for a
// shutdown signal. The OS part (handlers, and the thread that turns a
// signal into deliver_signal) is in sys/<os>/signal.cpp.
#include "corio/signal.hpp"

#include <deque>

#include "backend/backend.hpp"
#include "corio/cancel.hpp"
#include "corio/testing.hpp"
#include "sys/signal.hpp"

namespace corio::detail {

namespace {

struct registry {
  std::mutex mu;
  signal_waiter* head = nullptr;  // guarded by mu
  std::deque<shutdown_signal> pending;  // signals nobody waited for
  bool installed = false;
};

registry& reg() {
  static registry r;  // never destroyed: a late signal must find it
  return r;
}

void unlink(registry& r, signal_waiter& w) noexcept {
  if (w.prev) w.prev->next = w.next; else r.head = w.next;
  if (w.next) w.next->prev = w.prev;
  w.next = w.prev = nullptr;
  w.linked = false;
}

void resume_on_owner(signal_waiter& w) noexcept { resume_on(w.owner, w.waiter); }

}  // namespace

bool signal_wait_begin(signal_waiter& w) noexcept {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  if (!r.installed) {
    // A failure must not pass silently: the process would then have no
    // handler at all, and the waiter would wait for a signal that kills it.
    if (auto ec = sys::install_signal_handlers()) {
      w.error = ec;
      return false;
    }
    r.installed = true;
  }
  if (!r.pending.empty()) {
    w.got = r.pending.front();
    r.pending.pop_front();
    return false;
  }
  w.owner = current_backend();
  if (!w.owner) return false;  // off a worker: nowhere to resume; cancelled
  w.next = r.head;
  if (r.head) r.head->prev = &w;
  r.head = &w;
  w.linked = true;
  return true;
}

void signal_wait_cancel(signal_waiter& w) noexcept {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  if (!w.linked) return;  // the signal got there first and resumes it
  unlink(r, w);
  resume_on_owner(w);
}

void deliver_signal(shutdown_signal s) noexcept {
  auto& r = reg();
  std::lock_guard lock(r.mu);
  if (!r.head) {
    r.pending.push_back(s);
    return;
  }
  while (signal_waiter* w = r.head) {
    unlink(r, *w);
    w->got = s;
    // TRICKY: once posted, w may resume and vanish on its worker; it is
    // not touched after this line.
    resume_on_owner(*w);
  }
}

}  // namespace corio::detail

void corio::testing::raise_shutdown_signal(shutdown_signal s) noexcept {
  detail::deliver_signal(s);
}
