// lib/backend/epoll/epoll_backend.cpp: the epoll worker loop, posting,
// wake-up and cancellation (registrations: registration.cpp).
#include "backend/epoll/epoll_backend.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>
#include <new>

#include "core/fault.hpp"
#include "core/shuffle.hpp"

namespace corio::detail {

namespace {

std::error_code errno_code(int e) { return {e, std::generic_category()}; }

}  // namespace

result<backend_set> make_epoll_backends(unsigned count) {
  // Every socket that can reach an epoll registration is closed after this.
  socket_forgetter.store(&forget_epoll_socket, std::memory_order_release);
  backend_set out;
  out.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return fail(errno_code(errno));
    int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) {
      int e = errno;
      ::close(ep);
      return fail(errno_code(e));
    }
    // Level-triggered: it stays ready until poll reads the counter.
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = ev_wake;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev) != 0) {
      int e = errno;
      ::close(wake);
      ::close(ep);
      return fail(errno_code(e));
    }
    out.push_back(std::make_unique<epoll_backend>(ep, wake));
  }
  return out;
}

epoll_backend::epoll_backend(int epoll_fd, int wake_fd) noexcept
    : epoll_fd_(epoll_fd), posted_(wake_fd) {
  // Room for the usual load up front, so arming and finishing operations
  // allocates nothing in steady state (the vectors only ever grow).
  completed_.reserve(256);
  completing_.reserve(256);
}

epoll_backend::~epoll_backend() {
  // Retired registrations first: their sockets may already be freed.
  reclaim_registrations();
  unlink_registrations();
  ::close(epoll_fd_);
  if (tls_epoll_backend == this) tls_epoll_backend = nullptr;
}

result<void> epoll_backend::attach_thread() noexcept {
  tls_epoll_backend = this;
  return {};
}

bool epoll_backend::started() noexcept {
  count_in_flight(1);
  return true;
}

bool epoll_backend::finish(operation& op, std::int64_t res) noexcept {
  op.res = res;
  if (inline_left_ > 0) {
    --inline_left_;
    return false;
  }
  // The inline budget is spent: a connection whose data is always there
  // would otherwise keep this worker from ever polling. The result is
  // kept; the coroutine resumes in the next poll, after the events that
  // other connections are waiting for.
  complete_later(op, res);
  return started();
}

void epoll_backend::complete(operation& op, std::int64_t res) noexcept {
  count_in_flight(-1);
  op.res = res;
  op.state = op_state::idle;
  // Each resumption from the loop gets the whole budget: it bounds how long
  // one coroutine may go on inline, not how many events one poll serves
  // inline (a shared budget would defer, with their buffers held, all but
  // the first 64 of a burst of connections).
  inline_left_ = inline_budget;
  count_completion(counts, op);
  op.complete(&op);
}

void epoll_backend::complete_later(operation& op, std::int64_t res) noexcept {
  op.res = res;
  op.state = op_state::finished;
  // Grows only past the reserve; a failed growth here would lose an
  // operation, which std::terminate (noexcept) at least makes loud.
  completed_.push_back(&op);
}

void epoll_backend::cancel(operation& op) noexcept {
  // Not waiting: already finished, its completion queued.
  if (op.state != op_state::waiting) return;
  if (is_pool_file_op(op.code)) {
    cancel_on_pool(op);
    return;
  }
  if (op.code == op_code::timer) {
    if (timers_.holds(op.place.timer_index, op)) {
      timers_.remove(op.place.timer_index);
      complete_later(op, -ECANCELED);
    }
    return;
  }
  epoll_registration& reg = registration_at(op.place.registration);
  epoll_wait_slot& w = waits_to_read(op.code) ? reg.reader : reg.writer;
  if (unpark(w, op)) complete_later(op, -ECANCELED);
}

// ---- The loop -----------------------------------------------------------------

void epoll_backend::poll(bool block) noexcept {
  inline_left_ = inline_budget;  // for the coroutines the worker runs next
  reclaim_registrations();
  // With work waiting in the worker (coroutines ready to run, completions
  // already queued), epoll is asked only every few turns: a coroutine that
  // yields, or arms and cancels a timer, each turn pays no syscall for it,
  // and the sockets are still looked at every few turns.
  const bool idle = block && completed_.empty();
  if (idle || ++turns_without_wait_ > max_turns_without_wait) {
    turns_without_wait_ = 0;
    wait_for_events(idle);
  }
  expire_timers();
  run_pool_done();
  run_completed();
}

void epoll_backend::wait_for_events(bool block) noexcept {
  std::int64_t wait_ns = 0;
  if (block) wait_ns = timers_.time_to_next(timer_heap::now());  // -1: no timer, wait for an event
  int n = -1;
  bump(counts.kernel_entries);
  // Counts the wait only when it may block (a zero timeout never does).
  blocked_wait waiting(counts, wait_ns != 0);
  // Injected: the wait ends as a signal would end it, with nothing fetched.
  const bool interrupted = fault_hit(fault_site::epoll_wait);
  if (!interrupted && have_pwait2_) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(wait_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(wait_ns % 1'000'000'000);
    n = ::epoll_pwait2(epoll_fd_, events_, max_events, wait_ns < 0 ? nullptr : &ts, nullptr);
    // Kernels before 5.11, or a seccomp profile that does not know it.
    if (n < 0 && (errno == ENOSYS || errno == EPERM)) have_pwait2_ = false;
  }
  if (!interrupted && !have_pwait2_) {
    // Rounded up: a timer may fire up to a millisecond late, never early.
    int ms = -1;
    if (wait_ns >= 0) {
      std::int64_t up = (wait_ns + 999'999) / 1'000'000;
      ms = up > INT_MAX ? INT_MAX : static_cast<int>(up);
    }
    n = ::epoll_wait(epoll_fd_, events_, max_events, ms);
  }
  waiting.end();
  // EINTR: nothing fetched; timers and queued completions still run.
  // TRICKY: the events fetched here may name sockets that are closed while
  // this batch is processed: a coroutine resumed by events_[0] closes the
  // socket whose event is events_[5] (or another worker closes it right
  // now). No event points at a socket_core: data.ptr is a registration from
  // this backend's pool, which is never freed while the backend exists.
  // A closed socket's registration holds no waiting operation (nothing may
  // be in flight on a socket being closed), so dispatch finds nothing to
  // retry there and never reads reg.sock. And a registration retired during
  // this batch is reused only after the next poll's reclaim, by which time
  // its DEL (done before the close) keeps it out of every later batch: no
  // event ever reaches a registration that has since been given to another
  // socket.
  // With many connections the registration and the operation waiting in it
  // are usually out of cache: fetch them ahead (the registration two events
  // on, the waiting reader of the next; a prefetch never faults).
  if (n > 0) shuffle_batch(events_, static_cast<std::size_t>(n));  // schedule shaking
  auto reg_at = [&](int i) {
    return events_[i].data.u64 == ev_wake ? nullptr
                                          : static_cast<epoll_registration*>(events_[i].data.ptr);
  };
  for (int i = 0; i < n; ++i) {
    if (i + 2 < n) __builtin_prefetch(reg_at(i + 2));
    if (i + 1 < n) {
      if (auto* next = reg_at(i + 1)) __builtin_prefetch(next->reader.op);
    }
    dispatch(events_[i]);
  }
}

void epoll_backend::dispatch(const epoll_event& ev) noexcept {
  if (ev.data.u64 == ev_wake) {
    std::uint64_t count = 0;
    // Resets the counter; EAGAIN (already reset) is as good.
    [[maybe_unused]] auto r = ::read(posted_.fd(), &count, sizeof count);
    bump(counts.posts_received, posted_.drain());
    return;
  }
  // Every other event carries one of this backend's registrations (see the
  // TRICKY note above for why it is always safe to look at).
  auto& reg = *static_cast<epoll_registration*>(ev.data.ptr);
  const std::uint32_t e = ev.events;
  // An error or hang-up wakes both directions: the retried syscall reports
  // it (ECONNRESET, EPIPE, ECONNREFUSED) exactly as io_uring would.
  const bool broken = (e & (EPOLLERR | EPOLLHUP)) != 0;
  const bool readable = broken || (e & (EPOLLIN | EPOLLRDHUP)) != 0;
  if (readable) reg.read_ready = true;
  if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) reg.read_ended = true;
  if (reg.reader.op && readable) on_ready(reg.reader);
  if (reg.writer.op && (broken || (e & EPOLLOUT))) on_ready(reg.writer);
}

void epoll_backend::run_completed() noexcept {
  if (completed_.empty()) return;
  // Completions queued by the coroutines resumed here wait for the next
  // poll, so a coroutine that keeps finishing inline cannot hold this one.
  // Not shuffled under schedule shaking: timers due in the same poll fire
  // in deadline order, equal deadlines first-come first-served (a promise).
  completing_.swap(completed_);
  for (operation* op : completing_) complete(*op, op->res);
  completing_.clear();
}

void epoll_backend::post(std::coroutine_handle<> h) noexcept { posted_.post(h); }

void epoll_backend::wake() noexcept { posted_.wake(); }

}  // namespace corio::detail
