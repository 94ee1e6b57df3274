// lib/backend/epoll/epoll_backend.hpp: one epoll instance per worker, where
// io_uring is missing. Readiness is turned into completions: an operation
// first tries its syscall inline; on EAGAIN it waits in the socket's
// registration with this worker, and the syscall is retried when epoll says
// the socket is ready.
#pragma once

#include <sys/epoll.h>

#include <cerrno>

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/backend.hpp"
#include "backend/posted_queue.hpp"
#include "backend/timer_heap.hpp"
#include "corio/detail/file_io.hpp"

namespace corio::detail {

class epoll_backend;

// One direction of a registration: the operation waiting for readiness
// there. Its arguments are in the operation itself; accepts (several
// coroutines may accept on one listener from one worker) queue behind the
// first through accept_state::next_waiting.
struct epoll_wait_slot {
  operation* op = nullptr;
  // accept only: the last of the queue of waiting accepts.
  operation* tail = nullptr;
};

// What one worker knows about one socket that waited there: one per
// (socket, worker) pair, made the first time an operation of that worker
// had to wait on the socket, and registered with that worker's epoll once
// (edge-triggered, both directions) with data.ptr pointing here. The
// socket finds its registrations through socket_core::registrations, a list
// that only grows until the socket is closed (see forget_epoll_socket).
//
// Registrations live in their worker's pool and are never freed while the
// worker's backend exists: an event already fetched for a socket that has
// since been closed points to pool memory, never to a freed socket_core.
struct epoll_registration {
  // Fixed while the registration is linked from a socket (read by other
  // workers that walk the socket's list).
  epoll_backend* owner = nullptr;
  socket_core* sock = nullptr;
  epoll_registration* next_in_socket = nullptr;
  // Touched by the owner's thread only.
  epoll_wait_slot reader;  // recv or accept
  epoll_wait_slot writer;  // send or connect
  // Free list, retired list or the cross-thread returned stack.
  epoll_registration* next_free = nullptr;
  // Position in the owner's pool; operations waiting here keep it in
  // op.place.registration.
  std::uint32_t index = 0;
  bool live = false;
  // Whether the socket may have something to read: set by every readable
  // event, cleared when a read on this worker finds it dry (EAGAIN, or a
  // stream read shorter than its buffer). The registration is
  // edge-triggered, so data that arrives after the socket ran dry always
  // brings a new event: a read started while this is false waits at once
  // instead of paying a syscall to hear EAGAIN again (Tokio clears its
  // readiness the same way).
  bool read_ready = false;
  // Set for good once an event said the peer closed its side, or an error
  // or hang-up: a read that returns the last bytes also consumes a FIN
  // queued behind them, and no new edge would announce the EOF that the
  // next read must see at once.
  bool read_ended = false;
};

class epoll_backend final : public backend {
 public:
  // Takes ownership of an epoll instance and an eventfd already registered
  // in it (data.u64 == ev_wake) for wake-ups.
  epoll_backend(int epoll_fd, int wake_fd) noexcept;
  ~epoll_backend() override;

  result<void> attach_thread() noexcept override;

  bool start(operation& op) noexcept override;
  void cancel(operation& op) noexcept override;

  void poll(bool block) noexcept override;
  void post(std::coroutine_handle<> h) noexcept override;
  void wake() noexcept override;

  // Any thread, from forget_epoll_socket: drops this worker's registration
  // of a socket that is about to be closed.
  void retire(epoll_registration& reg) noexcept;

  // Consecutive operations a coroutine may finish inline once the loop has
  // resumed it; past that, a finished operation completes through the next
  // poll so a busy connection cannot starve the others.
  static constexpr int inline_budget = 64;

 private:
  // Finishes `op` with `res`: inline (returns false) while the inline
  // budget lasts, else through the next poll (returns true).
  bool finish(operation& op, std::int64_t res) noexcept;
  // Finishes `op` at once with `res`, budget or not (lesson 2: a failed
  // submission never waits for a completion).
  static bool fail_now(operation& op, std::int64_t res) noexcept {
    op.res = res;
    return false;
  }
  // Counts a started operation and says it is in flight.
  bool started() noexcept;
  // Queues `op`, a timer, in the heap (timer_ops.cpp).
  bool start_timer(operation& op) noexcept;
  // File operations (file_ops.cpp): run on the runtime's blocking pool;
  // the pool thread pushes the finished request on pool_done_ and wakes
  // this worker, whose poll completes it.
  bool start_on_pool(operation& op) noexcept;
  static void run_on_pool(blocking_job& job) noexcept;
  static void finish_on_pool(blocking_job& job) noexcept;
  void run_pool_done() noexcept;
  bool cancel_on_pool(operation& op) noexcept;
  // Parks `op` in this worker's registration of its socket until the socket
  // is ready in op's direction. Returns false with op.res set when the
  // registration fails.
  bool wait(operation& op) noexcept;
  // Starts a read-side operation (waits_to_read): at once into the wait
  // when this worker's registration says the socket is dry, else tried
  // inline first.
  bool start_read(operation& op) noexcept;
  // This worker's registration of `s`, made and added to epoll if there is
  // none yet; nullptr with errno-style `err` set when epoll refuses it.
  epoll_registration* registration_for(socket_core& s, int& err) noexcept;
  // This worker's registration of `s`, or nullptr when it has none.
  epoll_registration* registration_of(socket_core& s) const noexcept;
  // Retries the syscall of the operation(s) waiting in `w` after epoll
  // reported the direction ready; completes those that finish.
  void on_ready(epoll_wait_slot& w) noexcept;
  // Removes `op` from `w` (head or anywhere in an accept queue); false when
  // it is not there.
  static bool unpark(epoll_wait_slot& w, operation& op) noexcept;

  // Completes `op` now, on this worker.
  void complete(operation& op, std::int64_t res) noexcept;
  // Queues `op` to complete with `res` in the next poll.
  void complete_later(operation& op, std::int64_t res) noexcept;

  // Timers (timer_ops.cpp). Moves the timers whose deadline has passed to the completed list.
  void expire_timers() noexcept;

  // Registration pool (registration.cpp).
  epoll_registration* allocate_registration() noexcept;
  // Unlinks every live registration from its socket (the destructor).
  void unlink_registrations() noexcept;
  epoll_registration& registration_at(std::uint32_t index) noexcept {
    return chunks_[index / chunk_size][index % chunk_size];
  }
  // Returns the registrations retired since the previous poll to the free
  // list (see the TRICKY note in epoll_backend.cpp).
  void reclaim_registrations() noexcept;

  void wait_for_events(bool block) noexcept;
  void dispatch(const epoll_event& ev) noexcept;
  void run_completed() noexcept;

  static constexpr std::size_t chunk_size = 64;
  static constexpr int max_events = 256;

  int epoll_fd_;
  // epoll_pwait2 (nanosecond timeouts) unless this kernel or its seccomp
  // profile refuses it; then epoll_wait with millisecond timeouts rounded up.
  bool have_pwait2_ = true;
  int inline_left_ = inline_budget;
  // Non-blocking polls that did not ask epoll, in a row.
  static constexpr int max_turns_without_wait = 4;
  int turns_without_wait_ = 0;
  epoll_event events_[max_events];

  // Registrations: chunks that never move, a free list, the ones retired on
  // this thread since the last poll, and those retired by other threads (a
  // lock-free stack: pushed anywhere, taken whole by the owner).
  std::vector<std::unique_ptr<epoll_registration[]>> chunks_;
  epoll_registration* free_ = nullptr;
  epoll_registration* retired_ = nullptr;
  std::atomic<epoll_registration*> returned_{nullptr};

  // Waiting timers; each one's op.place holds its heap index, so cancel
  // finds it without a search.
  timer_heap timers_;

  // Operations finished (result set) that complete in the next poll:
  // cancelled ones, expired timers and those past the inline budget.
  std::vector<operation*> completed_;
  std::vector<operation*> completing_;

  // Posts from other threads; its eventfd is in the epoll set.
  posted_queue posted_;
  // File calls the blocking pool finished (a lock-free stack, pushed by
  // pool threads, taken whole by this worker; file_request::next_done).
  std::atomic<file_request*> pool_done_{nullptr};
};

// The epoll backend attached to the calling thread, if any: retire() uses
// it to tell a close on the registration's own worker (no other thread can
// be reading its fields) from a close anywhere else.
inline constinit thread_local epoll_backend* tls_epoll_backend = nullptr;

// Installed as socket_forgetter (see backend.hpp): retires each of the
// socket's registrations, on whatever thread the socket is closed.
void forget_epoll_socket(socket_core& s) noexcept;

// epoll_event.data.u64 of the wake-up eventfd; every other event's data.ptr
// is an epoll_registration (never at address 0).
inline constexpr std::uint64_t ev_wake = 0;

// What this backend keeps in an operation: op.state is `waiting` while it
// waits (a socket operation in the registration at op.place.registration,
// a timer in the heap at op.place.timer_index) and `finished` once its
// result is queued for the next poll.

// The registrations one pool holds at most (op.place.registration is 32 bits).
inline constexpr std::uint32_t max_registrations = UINT32_MAX;

// The operations that run on the blocking pool: every file call (a
// regular file is always "ready" to epoll, so readiness cannot help).
constexpr bool is_pool_file_op(op_code code) noexcept {
  return code == op_code::file_open || code == op_code::file_read || code == op_code::file_write ||
         code == op_code::file_sync;
}

// Reads (and accepts) wait on a socket's read side, the rest on its write side.
constexpr bool waits_to_read(op_code code) noexcept {
  return code == op_code::recv || code == op_code::accept || code == op_code::wait_readable ||
         code == op_code::recv_from || code == op_code::recv_pooled;
}

}  // namespace corio::detail
