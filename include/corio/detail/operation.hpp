// corio/detail/operation.hpp: the operation every awaiter starts and every
// backend runs. An operation carries everything the backend needs (what to
// do, on which socket, with which buffer), so a backend has one start()
// with one switch over the codes, and a new operation is one code, one
// awaiter and one case per backend (docs/architecture.md, "Adding an
// operation").
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>

namespace corio::detail {

#ifdef _WIN32
// Same layout as the Win32 OVERLAPPED (checked by static_assert in the IOCP
// backend), so public headers need not include <windows.h>.
struct overlapped_storage {
  std::uintptr_t internal = 0;
  std::uintptr_t internal_high = 0;
  void* offset_or_pointer = nullptr;
  void* event = nullptr;
};
#endif

struct socket_core;
struct accept_state;
struct file_request;
struct address_storage;
struct datagram_state;
struct pooled_block;

/// What an operation does. Each backend's start() has one case per code.
enum class op_code : std::uint8_t {
  recv,           // sock, buf: read up to buf.size bytes
  send,           // sock, buf: write up to buf.size bytes
  send_vectored,  // sock, vec: write up to the sum of several buffers (gather)
  wait_readable,  // sock: wait until data or the end of the stream can be read
  accept,         // sock (a listener), accept: take one connection
  connect,        // sock, connect_to: connect to a peer
  timer,          // deadline_ns: wait until the steady clock reaches it
  recv_from,      // sock, datagram: receive one datagram and its sender's address
  send_to,        // sock, datagram: send one datagram (to datagram->peer, or the connected peer)
  file_open,      // file (path, flags, mode): open a file; res is the new handle
  file_read,      // file (handle, offset, data, size): read at an offset
  file_write,     // file (handle, offset, data, size): write at an offset
  file_sync,      // file (handle): flush the file's data and metadata to the device
  send_file,      // sock, file (handle, offset, size): send file bytes to the socket
  recv_pooled,    // sock, pooled: read into a buffer the runtime picks (read_pooled)
};

/// How many op_code values there are (metrics count per code): keep it the
/// last value + 1 when adding one.
inline constexpr std::size_t op_code_count = static_cast<std::size_t>(op_code::recv_pooled) + 1;

/// The file operations (and send_file), which the backends start apart from
/// the socket operations.
constexpr bool is_file_code(op_code code) noexcept {
  return code >= op_code::file_open && code <= op_code::send_file;
}

/// One buffer of a gather write. On Linux it has the layout of struct iovec
/// (checked in the io_uring backend), so the kernel reads an array of them
/// as it is.
struct io_vec {
  const void* data;
  std::size_t size;
};

/// The most buffers one gather write takes (IOV_MAX is 1024 on Linux; IOCP
/// copies them into a WSABUF array on the stack).
inline constexpr std::size_t max_io_vecs = 64;

struct operation;

/// The completion that every plain operation uses: resume the waiter.
inline void resume_waiter(operation* op) noexcept;

/// A backend's record of where a started operation is (meaningful only
/// while it is in flight; see each backend's header).
enum class op_state : std::uint8_t {
  idle,       // not started, or finished and handed back
  waiting,    // in flight: in the kernel, a timer heap or an epoll registration
  finished,   // the result is set; it completes at the backend's next poll
  cancelled,  // IOCP timers: cancelled before they started (start refuses them)
};

/// One in-flight operation. It lives inside the awaiter, so inside the
/// awaiting coroutine's frame: starting an operation allocates nothing, and
/// the kernel's completion (io_uring user_data, IOCP lpOverlapped, an epoll
/// registration's waiting slot) points straight back to it.
struct operation {
#ifdef _WIN32
  // First member: the completion packet's lpOverlapped is this address.
  overlapped_storage overlapped;
#endif
  // Called on a worker once the backend has set `res`. Chosen by the
  // awaiter, never by the backend: plain operations resume the waiter,
  // cancellable ones first settle the race with a cancel request.
  void (*complete)(operation*) noexcept = resume_waiter;
  // The coroutine to resume, exactly once.
  std::coroutine_handle<> waiter;
  // >= 0: bytes transferred (or the accepted descriptor); < 0: a negated
  // error value as the OS defines it (see error_from_result).
  std::int64_t res = 0;
  // What `complete` needs besides the operation (a combinator's state, such
  // as with_timeout's); unused by plain operations.
  void* context = nullptr;

  // ---- What to do: set by the awaiter before start(), read by the backend.
  op_code code = op_code::recv;
  // Set (through std::atomic_ref) when a cancel was requested: a transfer of
  // several steps (write_all) checks it before each new step, so a cancel
  // that lands between two steps is not lost.
  std::uint8_t cancel_requested = 0;
  // The backend's record of this operation (through std::atomic_ref on
  // IOCP, where cancel may come from another thread).
  op_state state = op_state::idle;
  // Where the backend keeps the operation while it waits.
  union place_t {
    std::uint32_t timer_index;   // a timer: its position in the timer heap
    std::uint32_t registration;  // epoll, a socket operation: the registration it waits in
  } place{};
  // The socket it works on (every code but timer and file_*). The socket outlives the
  // operation: it is released only after every operation on it completed.
  socket_core* sock = nullptr;
  // The arguments of each code, in the member its comment names.
  union args_t {
    struct {
      void* data;
      std::size_t size;
    } buf;                             // recv, send (send never writes through data)
    struct {
      const io_vec* vecs;
      std::size_t count;
    } vec;                             // send_vectored
    accept_state* accept;              // accept: where the peer's address goes
    const address_storage* connect_to; // connect
    std::int64_t deadline_ns;          // timer: on the steady clock
    datagram_state* datagram;          // recv_from, send_to: buffer, address, OS header
    file_request* file;                // file_*, send_file (in the awaiter, beside the operation)
    struct {
      pooled_block* block;  // set by the backend: the buffer read into (null: none)
      std::uint32_t step;   // the backend's own: where a read of several steps is
    } pooled;                          // recv_pooled
  } args{};
};

inline void resume_waiter(operation* op) noexcept { op->waiter.resume(); }

/// What every corio operation awaiter provides, so that with_stop and
/// with_timeout can drive any of them:
///   operation& op() noexcept;  the operation it starts
///   bool start() noexcept;     starts it with op().waiter/complete/context as
///                              preset; returns like detail::start
///   R await_resume();          the result (a corio::result<...>)
/// Its await_suspend is `op().waiter = h; return start();`.
template <class A>
concept op_awaiter = requires(A& a) {
  { a.op() } noexcept -> std::same_as<operation&>;
  { a.start() } noexcept -> std::same_as<bool>;
  a.await_resume();
};

template <class Derived>
struct op_awaiter_base {
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    auto& self = static_cast<Derived&>(*this);
    self.op().waiter = h;
    return self.start();
  }
};

}  // namespace corio::detail
