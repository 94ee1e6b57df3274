// lib/backend/uring/uring_backend.hpp: one io_uring per worker.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/backend.hpp"
#include "backend/posted_queue.hpp"
#include "backend/uring/buffer_ring.hpp"
#include "corio/detail/detached.hpp"
#include "backend/timer_heap.hpp"

namespace corio::detail {

class uring_backend;

// The rings of one runtime, which post to each other with IORING_OP_MSG_RING.
// Every ring of a group lives until all the group's worker threads have
// been joined (the runtime destroys its backends after that), so a message
// never names a closed ring, nor a descriptor number reused since.
struct uring_group {
  struct member {
    uring_backend* backend;
    int ring_fd;  // set before any worker starts, never changed
  };
  std::vector<member> rings;  // by worker index
  // The kernel has IORING_OP_MSG_RING (5.18+, which also has
  // IOSQE_CQE_SKIP_SUCCESS): false, every post goes through the posted queue.
  bool messages = false;
};

class uring_backend final : public backend {
 public:
  // Takes ownership of an initialized ring (set up R_DISABLED where the
  // kernel supports single-issuer rings) and an eventfd for wake-ups; is
  // `group`'s ring number `index`.
  uring_backend(io_uring ring, bool enable_on_attach, int wake_fd,
                std::shared_ptr<uring_group> group, unsigned index) noexcept;
  // Reads for read_pooled pick their buffers from `buffers` (owned from
  // now on); without one they poll and read into the per-thread pool.
  void use_buffer_ring(buffer_ring* buffers) noexcept { buffers_ = buffers; }
  // With a buffer ring, read_pooled keeps one multishot recv per socket
  // (kernel 6.0+; multishot_recv.cpp); without, each read is one recv.
  void use_multishot(bool on) noexcept { multishot_ = on; }
  ~uring_backend() override;

  result<void> attach_thread() noexcept override;
  void detach_thread() noexcept override;

  bool start(operation& op) noexcept override;
  void cancel(operation& op) noexcept override;

  void poll(bool block) noexcept override;
  void post(std::coroutine_handle<> h) noexcept override;
  void wake() noexcept override;

 private:
  // Returns a vacant SQE for `op` with its user_data set, or nullptr (with
  // op.res set to the error) when none can be had even after flushing the
  // queue to the kernel: the caller then finishes op at once (lesson 2).
  io_uring_sqe* sqe_for(operation& op) noexcept;
  // Returns a vacant SQE, flushing the queue to the kernel once if it is
  // full; nullptr if there is still none.
  io_uring_sqe* vacant_sqe() noexcept;
  // Counts a started operation and says it is in flight.
  bool started() noexcept;
  // Queues `op`, a timer, in the heap (timer_ops.cpp).
  bool start_timer(operation& op) noexcept;
  // The file operations and send_file (file_ops.cpp).
  bool start_file(operation& op) noexcept;
  // send_file: one non-blocking sendfile(2) inline while the inline budget
  // lasts, else (or when the socket is full) a POLLOUT poll whose
  // completion retries it. Returns like start().
  bool send_file_step(operation& op) noexcept;
  // A send_file's poll completed with `res`: retries the sendfile. True
  // when the operation is still in flight (polling again).
  bool send_file_ready(operation& op, std::int32_t res) noexcept;
  // The msghdr of the gather write in `sqe`: one per submission-queue slot,
  // which the kernel has read once it consumed the SQE (IORING_FEAT_SUBMIT_STABLE,
  // 5.5+), before the slot is handed out again.
  msghdr& msghdr_for(const io_uring_sqe* sqe) noexcept { return msgs_[sqe - ring_.sq.sqes]; }
  // Queues the read of the wake-up eventfd; false when no SQE was had.
  bool arm_wake_read() noexcept;
  // Queues a cancel request for `op`; false when no SQE was had.
  bool submit_cancel(operation& op) noexcept;
  // Retries what found no SQE before: the wake-up read, cancel requests.
  void retry_deferred() noexcept;
  // `op`, whose cancel request waits in cancels_, completed: drop it.
  void forget_cancel(operation& op) noexcept;
  // Handles a failed io_uring_enter (negated errno `err`): waits and
  // signals are the usual case, transient shortages are retried on the next
  // turn, and anything else is reported through the log hook.
  void enter_failed(int err) noexcept;
  // read_pooled (buffer_ring.cpp): fills the SQE of a recv_pooled, and
  // takes its completion (`flags`: the CQE's); true when it is still in
  // flight (polling again), else op.res (and the buffer) are set.
  void prepare_pooled(io_uring_sqe* sqe, operation& op) noexcept;
  bool pooled_ready(operation& op, std::int32_t res, std::uint32_t flags) noexcept;
  // read_pooled over the socket's multishot recv (multishot_recv.cpp):
  // starts `op`, a read_pooled, or a plain read or wait for readability on
  // a socket that has one (1: in flight, 0: finished at once, -1: a plain
  // one that goes to the kernel itself); takes a CQE of the recv of the
  // socket `s`; cancels `op` if it waits there (false: it does not); and,
  // as the worker's loop ends, ends the receives still armed in its ring.
  int start_multishot(operation& op, multishot_recv& m) noexcept;
  void multishot_done(socket_core& s, std::int32_t res, std::uint32_t flags) noexcept;
  bool cancel_multishot_waiter(operation& op, multishot_recv& m) noexcept;
  void drop_armed_receives() noexcept;
  // Submits the multishot recv of `s` (its kept receive `m`, locked) on
  // this ring; false when no SQE was had.
  bool arm_multishot(socket_core& s, multishot_recv& m) noexcept;
  // Queues a cancel of the multishot recv of `s`; false when no SQE was had.
  bool stop_multishot(socket_core& s) noexcept;
  // Completes `op` on this worker: counted, then its completion called.
  void finish_here(operation& op) noexcept;
  // A read_pooled that waited on a receive armed in another worker's ring
  // completes on its own worker: posted there by this coroutine.
  static detached finish_on_own_worker(operation& op);
  void complete(std::uint64_t user_data, std::int32_t res, std::uint32_t flags) noexcept;
  // Called on this ring's thread: queues a message that resumes `h` on
  // ring `to` of the group; false when it cannot (no MSG_RING, no SQE, a
  // handle address the user_data cannot carry): the caller posts instead.
  bool send_message(unsigned to, std::coroutine_handle<> h) noexcept;
  // A message's CQE: one that arrived here (resume it), or the failure of
  // one sent from here (hand it to the target's posted queue).
  void message_done(std::uint64_t user_data, std::int32_t res) noexcept;
  void reap() noexcept;
  // Runs expired and cancelled timers (and anything else finished without
  // a CQE), after the CQEs of this poll.
  void run_finished() noexcept;

  io_uring ring_;
  std::shared_ptr<uring_group> group_;
  unsigned index_;
  // The ring whose worker is the calling thread (attach_thread to
  // detach_thread): the only ring that thread may submit to.
  static inline constinit thread_local uring_backend* this_thread_ = nullptr;
  // Per ring of the group, the turn (polls_) in which this worker last sent
  // it a message: one message per target per turn, the rest of that
  // turn's posts to it go through its posted queue (one eventfd write per
  // batch). The kernel's work per message (a request and a wake-up for the
  // target each) outweighs a queue push when a turn posts many: spawning
  // 1,000 tasks over two workers cost 2.4x the CPU with a message each.
  std::unique_ptr<std::uint64_t[]> messaged_in_turn_;
  std::uint64_t polls_ = 1;
  // One msghdr per submission-queue entry (see msghdr_for).
  std::unique_ptr<msghdr[]> msgs_;
  bool enable_on_attach_;
  // The eventfd counter read by the armed wake-up read.
  std::uint64_t wake_buf_ = 0;
  // Posts from threads other than the group's workers, and messages that
  // could not be sent; its eventfd is read by an armed ring read.
  posted_queue posted_;
  // Timers live here, not in the kernel: an io_uring timeout costs an SQE to
  // arm and one to cancel, and the kernel's cancel walks every pending
  // timeout (so re-arming an idle timeout per read grew with the number of
  // connections). The earliest deadline bounds the ring's wait instead.
  timer_heap timers_;
  // Operations finished without a CQE (timers), completed in this poll.
  std::vector<operation*> finished_;
  // Non-blocking polls that did not enter the kernel, in a row.
  static constexpr int max_turns_without_enter = 4;
  int turns_without_enter_ = 0;
  // The last io_uring_enter error reported (0: the last enter succeeded).
  int last_enter_error_ = 0;
  std::vector<operation*> finishing_;
  // sendfile(2) calls a worker makes inline before it polls again, so one
  // large transfer to a fast reader cannot starve the other connections.
  static constexpr int send_file_inline_budget = 16;
  int send_file_inline_left_ = send_file_inline_budget;
  // Whether the wake-up read is queued or in flight.
  bool wake_armed_ = false;
  // Operations whose cancel request found no SQE (op.state == cancelled),
  // submitted by a later poll; an operation that completes first leaves.
  std::vector<operation*> cancels_;
  // This worker's provided-buffer ring (null: none; see buffer_ring.hpp).
  buffer_ring* buffers_ = nullptr;
  // read_pooled keeps a multishot recv per socket (see use_multishot).
  bool multishot_ = false;
  // Multishot recvs armed in this ring (their last CQE still to come), and
  // whether the worker's loop has ended (drop_armed_receives).
  unsigned armed_count_ = 0;
  bool tearing_down_ = false;
};

// user_data values that are not operation addresses (operations are
// aligned, so never 0 or 1, and their two low bits are 0).
inline constexpr std::uint64_t ud_ignore = 0;  // e.g. a cancel request's own CQE
inline constexpr std::uint64_t ud_wake = 1;    // the eventfd read
// A socket's multishot recv carries the socket_core's address tagged 1 in
// its two low bits (never ud_wake itself: the address is not 0).
inline constexpr std::uint64_t ud_multishot = 1;
// Messages between rings carry a coroutine frame's address (aligned too)
// tagged in its two low bits: ud_message on the CQE that arrives at the
// target; ud_message_failed on the sender's own CQE, which comes only when
// the message failed (IOSQE_CQE_SKIP_SUCCESS) and names the target ring's
// index in the bits from ud_index_shift up (user-space addresses stay
// below 2^48 unless a program maps above that on purpose; a handle that
// does is posted the other way).
inline constexpr std::uint64_t ud_tag_mask = 3;
inline constexpr std::uint64_t ud_message = 2;
inline constexpr std::uint64_t ud_message_failed = 3;
inline constexpr unsigned ud_index_shift = 48;
inline constexpr std::uint64_t ud_address_mask = ((std::uint64_t{1} << ud_index_shift) - 1) & ~ud_tag_mask;
// An operation's address, not one of the values above.
inline constexpr bool ud_is_operation(std::uint64_t ud) noexcept {
  return ud != ud_ignore && (ud & ud_tag_mask) == 0;
}

// recv_pooled's steps on io_uring (op.args.pooled.step).
enum : std::uint32_t {
  step_select = 0,          // a recv with IOSQE_BUFFER_SELECT: the kernel picks the buffer
  step_poll = 1,  // a poll for readability; then a recv into a pool block
};

// The reads that a socket's multishot recv serves (multishot_recv.cpp).
constexpr bool is_read_code(op_code c) noexcept {
  return c == op_code::recv || c == op_code::recv_pooled || c == op_code::wait_readable;
}

// What this backend keeps in an operation: a timer's op.state is `waiting`
// while it is in the heap, at op.place.timer_index; every other operation
// is the kernel's from start to CQE, and its op.state is `cancelled` only
// while a cancel request for it waits in cancels_ for an SQE.

}  // namespace corio::detail
