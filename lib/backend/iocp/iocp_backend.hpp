// lib/backend/iocp/iocp_backend.hpp: the Windows backend. One I/O
// completion port per runtime, shared by all its workers.
//
// The model, and where it differs from io_uring:
// - io_uring has one ring per worker and an operation completes on the
//   worker that started it. Here every worker blocks in
//   GetQueuedCompletionStatusEx on the same port, so an operation completes
//   (and its coroutine resumes) on whichever worker dequeues its packet, and
//   post(h) resumes h on any worker. A connection needs no lock all the
//   same: only its own coroutine touches it, one step at a time.
// - A packet's lpOverlapped is the address of the operation (its first
//   member is an OVERLAPPED), so completing is one cast and one call: no
//   map, no lock, no allocation (op_from_overlapped).
// - Sockets whose provider hands out real file handles (XP1_IFS_HANDLES)
//   run with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: an operation that
//   succeeds at once finishes inline, with no packet. At most
//   `inline_budget` of those run on a worker between two polls; past that a
//   result waits for the next poll, so a stream whose operations keep
//   completing synchronously cannot starve the others.
// - Timers live in one heap per port (timer_queue), not in the kernel;
//   blocked workers wait in GetQueuedCompletionStatusEx no longer than the
//   earliest deadline.
// - Cancellation is CancelIoEx, which any thread may call.
#pragma once

#include "sys/win/winsock.hpp"
// winsock.hpp first: it includes <winsock2.h> before <windows.h>.

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "backend/backend.hpp"
#include "backend/timer_heap.hpp"
#include "corio/detail/file_io.hpp"

namespace corio::detail {

// ---------------------------------------------------------------------------
// Operations and packets

static_assert(sizeof(overlapped_storage) == sizeof(OVERLAPPED) &&
                  alignof(overlapped_storage) == alignof(OVERLAPPED) &&
                  offsetof(overlapped_storage, internal) == offsetof(OVERLAPPED, Internal) &&
                  offsetof(overlapped_storage, internal_high) ==
                      offsetof(OVERLAPPED, InternalHigh) &&
                  offsetof(overlapped_storage, offset_or_pointer) ==
                      offsetof(OVERLAPPED, Pointer) &&
                  offsetof(overlapped_storage, event) == offsetof(OVERLAPPED, hEvent),
              "overlapped_storage must have the layout of OVERLAPPED");
static_assert(std::is_standard_layout_v<operation> && offsetof(operation, overlapped) == 0,
              "an operation must start with its OVERLAPPED");

inline OVERLAPPED* overlapped_of(operation& op) noexcept {
  return reinterpret_cast<OVERLAPPED*>(&op.overlapped);
}

// The one cast from a packet back to its operation. Safe because the packets
// that carry an operation (key_io and key_ready) only ever carry the address
// returned by overlapped_of: the operation's first member, of OVERLAPPED's
// layout (checked above), in the frame of a coroutine that stays suspended
// until this packet completes it.
inline operation* op_from_overlapped(OVERLAPPED* ov) noexcept {
  return reinterpret_cast<operation*>(ov);
}

// Completion keys: what a packet is. Checked before any cast.
enum : ULONG_PTR {
  key_io = 1,     // an I/O operation on a socket (every socket is associated with this key)
  key_ready = 2,  // an operation whose res the backend already set (a cancelled timer)
  key_post = 3,   // lpOverlapped is a coroutine handle's address (post)
  key_kick = 4,   // no payload: re-read the timers (an earlier deadline arrived)
};

// What this backend keeps in an operation: a timer's op.state and
// op.place.timer_index, written and read under the timer queue's lock
// (cancel may come from any thread); nothing for the others, whose socket
// (CancelIoEx needs it) is op.sock and whose completion carries their
// OVERLAPPED.

// ---------------------------------------------------------------------------
// Timers

/// The timers of one port: the backends' timer_heap (a binary min-heap on
/// deadline, then arrival), behind a mutex, shared by every worker. A queued operation's state is `waiting`
/// and its heap position is op.place.timer_index (both under the lock), so
/// cancel finds it without a search.
class timer_queue {
 public:
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

  enum class added { earliest, later, cancelled, no_memory };
  /// Queues `op`, due at op.args.deadline_ns, and says whether it is now the
  /// earliest; or, if remove() came first, queues nothing and says
  /// `cancelled`; or `no_memory` when the heap must grow and cannot.
  added add(operation& op) noexcept;
  /// Takes `op` out if it is still queued and says so (then nobody else
  /// will complete it). On an operation not started yet, marks it so that
  /// add() refuses it.
  bool remove(operation& op) noexcept;
  /// Moves every operation due at or before `now` into `out`, in order.
  void take_due(std::int64_t now, std::vector<operation*>& out);
  /// The earliest deadline, or `none`. A relaxed read: exact only under the
  /// lock, which is what the cheap checks on every poll need.
  std::int64_t earliest() const noexcept { return earliest_.load(std::memory_order_relaxed); }

 private:
  void publish_earliest() noexcept;

  std::mutex mu_;
  timer_heap heap_;  // guarded by mu_
  std::atomic<std::int64_t> earliest_{none};
};

// ---------------------------------------------------------------------------
// The port

/// What every worker of one runtime shares: the completion port, the
/// timers, and the queue of items whose packet the kernel refused.
class iocp_port {
 public:
  iocp_port(HANDLE port, const win::extensions& fns) noexcept : port_(port), fns_(fns) {}
  ~iocp_port();
  iocp_port(const iocp_port&) = delete;
  iocp_port& operator=(const iocp_port&) = delete;

  HANDLE handle() const noexcept { return port_; }
  const win::extensions& fns() const noexcept { return fns_; }

  /// Queues a packet; false when the kernel refused it (nothing queued).
  bool post_packet(ULONG_PTR key, void* payload) noexcept;

  // Lesson 2 for posts (Asio's asio#312): a packet that PostQueuedCompletionStatus
  // refused must not be lost. It waits here until a worker's poll drains it.
  void keep(std::coroutine_handle<> h) noexcept;
  void keep(operation* op) noexcept;
  bool has_kept() const noexcept { return has_kept_.load(std::memory_order_acquire); }
  void take_kept(std::vector<std::coroutine_handle<>>& handles,
                 std::vector<operation*>& ops) noexcept;

  // Cancels to try again (see iocp_backend::cancel_io): `op`, in flight on
  // `h`, whose CancelIoEx found nothing although the I/O is still pending.
  // Queued unless op turns out to be finished; some worker's poll retries
  // it until the cancel takes or the operation finishes.
  void retry_cancel(operation& op, HANDLE h) noexcept;
  // Sequentially consistent, paired with retry_cancel's store: a completion
  // that reads false here is of an operation retry_cancel saw finished.
  bool has_retries() const noexcept { return has_retries_.load(std::memory_order_seq_cst); }
  // Called before `op` completes: it must not stay queued.
  void forget_retry(operation& op) noexcept;
  void run_retries() noexcept;

  timer_queue timers;

 private:
  struct cancel_retry {
    operation* op;
    HANDLE handle;
  };

  HANDLE port_;
  win::extensions fns_;
  std::mutex kept_mu_;
  std::vector<std::coroutine_handle<>> kept_handles_;  // guarded by kept_mu_
  std::vector<operation*> kept_ops_;                   // guarded by kept_mu_; res already set
  std::atomic<bool> has_kept_{false};
  std::mutex retry_mu_;
  std::vector<cancel_retry> retries_;  // guarded by retry_mu_
  std::atomic<bool> has_retries_{false};
};

// ---------------------------------------------------------------------------
// The backend: one per worker, all on one port

class iocp_backend final : public backend {
 public:
  /// Synchronous completions a worker runs inline between two polls.
  static constexpr int inline_budget = 64;
  /// Packets dequeued by one GetQueuedCompletionStatusEx.
  static constexpr ULONG batch = 64;
  /// How long a worker waits at most while a cancel waits to be retried.
  static constexpr DWORD cancel_retry_ms = 1;

  explicit iocp_backend(std::shared_ptr<iocp_port> port) noexcept;
  ~iocp_backend() override;

  result<void> attach_thread() noexcept override;

  bool start(operation& op) noexcept override;

  void cancel(operation& op) noexcept override;
  // CancelIoEx and the timer heap's lock work from any thread.
  bool cancel_from_any_thread() const noexcept override { return true; }

  void poll(bool block) noexcept override;
  void post(std::coroutine_handle<> h) noexcept override;
  void wake() noexcept override;

  // Test hooks.
  struct counters {
    std::int64_t inline_completions = 0;  // finished without a packet
    std::int64_t budget_deferrals = 0;    // finished synchronously, delivered at the next poll
  };
  counters stats() const noexcept {
    return {inline_completions_.load(std::memory_order_relaxed),
            budget_deferrals_.load(std::memory_order_relaxed)};
  }
  /// Whether `s` is associated with a port and skips it on success.
  static bool skips_port_on_success(const socket_core& s) noexcept;

 private:
  // Associates `s` with the port on its first operation (once, whichever
  // worker gets there first) and says whether its synchronous successes
  // skip the port.
  result<bool> associate(socket_core& s) noexcept;
  // The socket operations (socket_ops.cpp) and the timer (timer_ops.cpp).
  bool start_transfer(operation& op, bool skip) noexcept;
  bool start_accept(operation& op, bool skip) noexcept;
  bool start_connect(operation& op, bool skip) noexcept;
  bool start_datagram(operation& op, bool skip) noexcept;
  bool start_timer(operation& op) noexcept;
  // Files (file_ops.cpp): reads and writes overlapped on the port,
  // send_file as TransmitFile, open and sync on the blocking pool.
  bool start_file(operation& op) noexcept;
  bool start_send_file(operation& op) noexcept;
  bool start_on_pool(operation& op) noexcept;
  static void run_on_pool(blocking_job& job) noexcept;
  static void finish_on_pool(blocking_job& job) noexcept;
  // Any thread: completes `op` (its res set) through the port.
  void deliver(operation& op) noexcept;
  // Cancels a file operation; false for a code that is not one.
  bool cancel_file(operation& op) noexcept;
  // CancelIoEx on `h`, queued to be tried again when it found nothing to
  // cancel while op is still pending.
  void cancel_io(operation& op, HANDLE h) noexcept;
  // After a start whose call returned `ok`: in flight (true), or finished
  // now (false) with op.res set. `skip` was read before the call.
  bool after_start(operation& op, bool ok, bool skip, DWORD error) noexcept;
  // Finishes op with `res` without a packet: now (false), or at the next
  // poll once the inline budget is spent (true).
  bool finish_inline(operation& op, std::int64_t res) noexcept;
  // Finishes op now with an error: the submission failed (lesson 2).
  bool fail_now(operation& op, std::int64_t res) noexcept;
  // Turns a completion's raw result into the operation's result (accept and
  // connect finish their socket here).
  static std::int64_t settle(operation& op, std::int64_t res) noexcept;
  static std::int64_t settle_accept(accept_state& st, SOCKET listener, std::int64_t res) noexcept;
  static std::int64_t settle_connect(SOCKET s, std::int64_t res) noexcept;
  // read_pooled: after its zero-byte WSARecv, the receive into a pool block.
  static std::int64_t settle_pooled(operation& op, std::int64_t res) noexcept;

  void dispatch(const OVERLAPPED_ENTRY& e) noexcept;
  void complete(operation* op) noexcept;
  void fire_due_timers() noexcept;
  void run_deferred() noexcept;
  void run_kept() noexcept;
  DWORD wait_ms() const noexcept;

  // This worker is the only writer of its counters, so a load and a store
  // (no read-modify-write) keep them exact; other threads only read them.
  void started() noexcept { count_in_flight(1); }
  void finished() noexcept { count_in_flight(-1); }
  static void bump(std::atomic<std::int64_t>& c, std::int64_t by) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::shared_ptr<iocp_port> port_;
  // This worker's thread (a real handle), for wake()'s user APC.
  HANDLE thread_ = nullptr;
  // Set by the first wake() after a poll began, so one APC covers a batch.
  std::atomic<bool> wake_armed_{false};
  // Synchronous completions since the last poll.
  int inline_run_ = 0;
  // Synchronous completions held back by the budget, for the next poll.
  std::vector<operation*> deferred_;
  // Scratch lists, reused so that polling allocates nothing once warm.
  std::vector<operation*> draining_;
  std::vector<std::coroutine_handle<>> kept_handles_;
  std::atomic<std::int64_t> inline_completions_{0};
  std::atomic<std::int64_t> budget_deferrals_{0};
};

/// Test hook (lesson 2 for posts): the next `n` packets that corio posts to
/// any port (post, wake, timer delivery) are refused as if the kernel were
/// out of memory; 0 turns it off. The rule {iocp_post, nth = 1, count = n}
/// of corio/testing.hpp; replaces any installed rules.
void refuse_next_posts(int n) noexcept;

}  // namespace corio::detail
