// lib/backend/iocp/iocp_backend.cpp: the port, the worker loop's poll,
// posting, waking and cancelling.
#include "backend/iocp/iocp_backend.hpp"

#include <winternl.h>  // RtlNtStatusToDosError

#include <chrono>
#include <span>

#include "core/fault.hpp"

namespace corio::detail {

namespace {

// wake()'s user APC does nothing: delivering it is what makes an alertable
// GetQueuedCompletionStatusEx return (with WAIT_IO_COMPLETION).
void CALLBACK wake_apc(ULONG_PTR) noexcept {}

// Whether op's I/O has not finished: the I/O status block (the
// OVERLAPPED's Internal) holds STATUS_PENDING until the system writes the
// final status, which it does before it queues the packet.
bool still_pending(operation& op) noexcept {
  return std::atomic_ref<ULONG_PTR>(overlapped_of(op)->Internal).load(std::memory_order_seq_cst) ==
         STATUS_PENDING;
}

std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------------------
// iocp_port

void refuse_next_posts(int n) noexcept {
  if (n <= 0) {
    testing::clear_faults();
    return;
  }
  const testing::fault_rule r{.site = fault_site::iocp_post, .nth = 1,
                              .count = static_cast<std::uint64_t>(n)};
  (void)testing::set_faults(std::span(&r, 1));
}

iocp_port::~iocp_port() {
  ::CloseHandle(port_);
}

bool iocp_port::post_packet(ULONG_PTR key, void* payload) noexcept {
  if (fault_hit(fault_site::iocp_post)) return false;
  return ::PostQueuedCompletionStatus(port_, 0, key, static_cast<OVERLAPPED*>(payload)) != 0;
}

void iocp_port::keep(std::coroutine_handle<> h) noexcept {
  // push_back may throw only when memory is gone as well as the packet; in
  // this noexcept function that terminates rather than losing the coroutine.
  std::lock_guard lock(kept_mu_);
  kept_handles_.push_back(h);
  has_kept_.store(true, std::memory_order_release);
}

void iocp_port::keep(operation* op) noexcept {
  std::lock_guard lock(kept_mu_);
  kept_ops_.push_back(op);
  has_kept_.store(true, std::memory_order_release);
}

void iocp_port::take_kept(std::vector<std::coroutine_handle<>>& handles,
                          std::vector<operation*>& ops) noexcept {
  std::lock_guard lock(kept_mu_);
  handles.swap(kept_handles_);
  ops.swap(kept_ops_);
  has_kept_.store(false, std::memory_order_relaxed);
}

void iocp_port::retry_cancel(operation& op, HANDLE h) noexcept {
  std::lock_guard lock(retry_mu_);
  // TRICKY: the flag goes up before op's status is read. A worker that
  // dequeued op's packet reads the flag after the status was written, so
  // either it sees the flag (and takes op out before completing it) or
  // this read sees op finished (and op is not queued).
  has_retries_.store(true, std::memory_order_seq_cst);
  if (still_pending(op)) {
    retries_.push_back({&op, h});
  } else if (retries_.empty()) {
    has_retries_.store(false, std::memory_order_relaxed);
  }
}

void iocp_port::forget_retry(operation& op) noexcept {
  std::lock_guard lock(retry_mu_);
  std::erase_if(retries_, [&](const cancel_retry& r) { return r.op == &op; });
  if (retries_.empty()) has_retries_.store(false, std::memory_order_relaxed);
}

void iocp_port::run_retries() noexcept {
  std::lock_guard lock(retry_mu_);
  // Each stays queued only while it is pending and its cancel still finds
  // nothing; a finished one's packet is on its way.
  std::erase_if(retries_, [](const cancel_retry& r) {
    return !still_pending(*r.op) || ::CancelIoEx(r.handle, overlapped_of(*r.op)) ||
           ::GetLastError() != ERROR_NOT_FOUND;
  });
  if (retries_.empty()) has_retries_.store(false, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// Making the backends

result<backend_set> make_iocp_backends(unsigned count) {
  auto ws = win::winsock();
  if (!ws) return fail(ws.error());
  // At most `count` threads run packets at once: all the workers, and only them.
  HANDLE h = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, count);
  if (!h) return fail(win::win32_error(::GetLastError()));
  auto port = std::make_shared<iocp_port>(h, **ws);
  backend_set out;
  for (unsigned i = 0; i < count; ++i) out.push_back(std::make_unique<iocp_backend>(port));
  return out;
}

iocp_backend::iocp_backend(std::shared_ptr<iocp_port> port) noexcept : port_(std::move(port)) {}

iocp_backend::~iocp_backend() {
  if (thread_) ::CloseHandle(thread_);
}

result<void> iocp_backend::attach_thread() noexcept {
  // GetCurrentThread() is a pseudo-handle that means "the caller"; wake()
  // runs on other threads and needs a real one.
  HANDLE self = nullptr;
  if (!::DuplicateHandle(::GetCurrentProcess(), ::GetCurrentThread(), ::GetCurrentProcess(), &self,
                         0, FALSE, DUPLICATE_SAME_ACCESS))
    return fail(win::win32_error(::GetLastError()));
  thread_ = self;
  deferred_.reserve(inline_budget);
  draining_.reserve(batch);
  return {};
}

// ---------------------------------------------------------------------------
// Finishing operations

bool iocp_backend::fail_now(operation& op, std::int64_t res) noexcept {
  op.res = res;
  return false;
}

bool iocp_backend::finish_inline(operation& op, std::int64_t res) noexcept {
  op.res = res;
  if (inline_run_ < inline_budget) {
    ++inline_run_;
    finished();
    bump(inline_completions_, 1);
    return false;
  }
  // The budget is spent: this worker has run `inline_budget` synchronous
  // completions since it last polled, so some coroutine keeps finding its
  // data ready. Deliver this one at the next poll, after the port's other
  // packets, as if it had come through the port: the operation stays in
  // flight and the awaiter suspends.
  deferred_.push_back(&op);
  bump(budget_deferrals_, 1);
  return true;
}

void iocp_backend::complete(operation* op) noexcept {
  finished();
  count_completion(counts, *op);
  op->complete(op);
}

std::int64_t iocp_backend::settle(operation& op, std::int64_t res) noexcept {
  switch (op.code) {
    case op_code::accept:
      return settle_accept(*op.args.accept, win::to_socket(op.sock->handle), res);
    case op_code::connect:
      return settle_connect(win::to_socket(op.sock->handle), res);
    case op_code::recv_pooled:
      return settle_pooled(op, res);
    case op_code::file_read:
      // A read at or past the end of a file fails with ERROR_HANDLE_EOF
      // (STATUS_END_OF_FILE); corio's read_at reports 0 there, as pread does.
      return res == win::res_from_win32(ERROR_HANDLE_EOF) ? 0 : res;
    default:
      return res;
  }
}

// ---------------------------------------------------------------------------
// Polling

DWORD iocp_backend::wait_ms() const noexcept {
  const std::int64_t due = port_->timers.earliest();
  if (due == timer_queue::none) return INFINITE;
  const std::int64_t now = steady_now_ns();
  // Any deadline works, time_point::min() and max() included: the
  // difference is taken only when it cannot overflow.
  if (due <= now) return 0;
  const std::int64_t left = due - now;
  // Round up: waking before the deadline only costs a turn, but a wait of
  // 0 ms for a timer 0.4 ms away would spin.
  const std::int64_t ms = (left + 999'999) / 1'000'000;
  return ms >= INFINITE ? INFINITE - 1 : static_cast<DWORD>(ms);
}

void iocp_backend::poll(bool block) noexcept {
  inline_run_ = 0;
  // A wake() from here on queues a fresh APC; one queued before is still
  // pending and makes the wait below return at once, so none is lost.
  wake_armed_.store(false, std::memory_order_release);

  // Block only when nothing is waiting here already: results held back by
  // the inline budget, refused packets, or a timer that is due.
  DWORD timeout = 0;
  if (block && deferred_.empty() && !port_->has_kept()) timeout = wait_ms();
  // A cancel to try again: come back for it soon.
  if (timeout > cancel_retry_ms && port_->has_retries()) timeout = cancel_retry_ms;

  OVERLAPPED_ENTRY entries[batch];
  ULONG n = 0;
  detail::bump(counts.kernel_entries);
  // Alertable, so that wake()'s APC ends the wait (WAIT_IO_COMPLETION).
  // FALSE otherwise means a timeout: nothing was dequeued.
  // An injected failure dequeues nothing, as a failed call does: the
  // packets stay in the port for the next poll.
  BOOL got = FALSE;
  if (fault_hit(fault_site::iocp_dequeue)) {
  } else if (timeout != 0) {
    blocked_wait waiting(counts);
    got = ::GetQueuedCompletionStatusEx(port_->handle(), entries, batch, &n, timeout, TRUE);
  } else {
    got = ::GetQueuedCompletionStatusEx(port_->handle(), entries, batch, &n, timeout, TRUE);
  }
  if (got) {
    for (ULONG i = 0; i < n; ++i) dispatch(entries[i]);
  }
  fire_due_timers();
  run_deferred();
  if (port_->has_kept()) run_kept();
  if (port_->has_retries()) port_->run_retries();
}

void iocp_backend::dispatch(const OVERLAPPED_ENTRY& e) noexcept {
  switch (e.lpCompletionKey) {
    case key_io: {
      // A synchronous call on an associated socket (no OVERLAPPED: a plain
      // send() by the application) may still queue a packet on some
      // providers; it completes nothing of ours.
      if (!e.lpOverlapped) return;
      operation* op = op_from_overlapped(e.lpOverlapped);
      if (port_->has_retries()) port_->forget_retry(*op);
      // The I/O status block lives in the OVERLAPPED: Internal is the
      // NTSTATUS, negative on failure.
      const auto status = static_cast<NTSTATUS>(e.lpOverlapped->Internal);
      std::int64_t res = status >= 0 ? static_cast<std::int64_t>(e.dwNumberOfBytesTransferred)
                                     : win::res_from_win32(::RtlNtStatusToDosError(status));
      res = settle(*op, res);
      op->res = res;
      complete(op);
      return;
    }
    case key_ready:
      complete(op_from_overlapped(e.lpOverlapped));
      return;
    case key_post:
      // post() put a coroutine handle's address in the packet; the kernel
      // never dereferences it.
      detail::bump(counts.posts_received);
      std::coroutine_handle<>::from_address(e.lpOverlapped).resume();
      return;
    case key_kick:
      return;  // fire_due_timers runs after every batch
    default:
      return;  // not corio's: a packet someone else posted to this port
  }
}

void iocp_backend::fire_due_timers() noexcept {
  const std::int64_t now = steady_now_ns();
  if (port_->timers.earliest() > now) return;
  draining_.clear();
  port_->timers.take_due(now, draining_);
  // Completions may start new operations; they do not touch draining_.
  for (operation* op : draining_) {
    op->res = 0;
    complete(op);
  }
  draining_.clear();
}

void iocp_backend::run_deferred() noexcept {
  if (deferred_.empty()) return;
  draining_.clear();
  // Swap first: a completion that runs below may start an operation that
  // lands in deferred_ again, for the poll after this one.
  draining_.swap(deferred_);
  for (operation* op : draining_) complete(op);
  draining_.clear();
}

void iocp_backend::run_kept() noexcept {
  draining_.clear();
  kept_handles_.clear();
  port_->take_kept(kept_handles_, draining_);
  detail::bump(counts.posts_received, kept_handles_.size());
  for (auto h : kept_handles_) h.resume();
  for (operation* op : draining_) complete(op);
  kept_handles_.clear();
  draining_.clear();
}

// ---------------------------------------------------------------------------
// Posting, waking, cancelling

void iocp_backend::post(std::coroutine_handle<> h) noexcept {
  if (port_->post_packet(key_post, h.address())) return;
  // Lesson 2: the kernel refused the packet (it could not allocate one), so
  // none will ever arrive. Keep the handle and wake this worker to run it.
  port_->keep(h);
  wake();
}

void iocp_backend::wake() noexcept {
  if (wake_armed_.exchange(true, std::memory_order_acq_rel)) return;
  // A user APC reaches exactly this worker; a packet would wake whichever
  // worker the port picks, and stop() must reach this one. An APC queued
  // while the worker is busy waits for its next alertable wait, so it is
  // never lost.
  if (thread_ && ::QueueUserAPC(wake_apc, thread_, 0)) return;
  // No APC (not attached yet, or out of memory): wake some worker instead;
  // it drains the kept queue, and this worker sees the flag on its next turn.
  wake_armed_.store(false, std::memory_order_release);
  port_->post_packet(key_kick, nullptr);
}

void iocp_backend::cancel(operation& op) noexcept {
  // `op` is in flight (or, for a timer, maybe not started yet): its code,
  // socket and the OVERLAPPED's address are stable until it completes,
  // which cannot happen before its coroutine resumes.
  if (op.code == op_code::timer) {
    // A timer still in the heap is ours to complete; one that is not has
    // fired and its completion is already on its way (or has not started,
    // and remove() marked it so that it never will).
    if (!port_->timers.remove(op)) return;
    op.res = win::res_from_win32(ERROR_OPERATION_ABORTED);
    // Never inline: through the port, like every other completion.
    if (port_->post_packet(key_ready, overlapped_of(op))) return;
    port_->keep(&op);
    wake();
    return;
  }
  if (is_file_code(op.code) && cancel_file(op)) return;  // file_ops.cpp
  cancel_io(op, reinterpret_cast<HANDLE>(win::to_socket(op.sock->handle)));
}

void iocp_backend::cancel_io(operation& op, HANDLE h) noexcept {
  // ERROR_NOT_FOUND when the I/O already finished (or was held back by the
  // inline budget): its real result is on its way. Not always under Wine:
  // an operation whose next step its thread is running (a TransmitFile
  // between two chunks, a send between two partial writes) is skipped by
  // the cancel, then queued again as if none had come, and with a peer
  // that reads no more it never finishes. Its status block still says
  // pending then, so the cancel is tried again until it takes.
  if (::CancelIoEx(h, overlapped_of(op)) || ::GetLastError() != ERROR_NOT_FOUND) return;
  port_->retry_cancel(op, h);
  if (port_->has_retries()) wake();
}

}  // namespace corio::detail
