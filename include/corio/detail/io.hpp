// corio/detail/io.hpp: the socket state that operations share, and the one
// entry point (start) that every awaiter calls. Implemented in
// lib/core/io.cpp, which hands the operation to the calling worker's backend.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "corio/detail/operation.hpp"

namespace corio::detail {

/// A socket handle: an fd on Linux, a SOCKET on Windows (INVALID_SOCKET is -1
/// once converted).
using native_socket = std::intptr_t;
inline constexpr native_socket invalid_socket = -1;

/// One open socket. Heap-allocated once per socket so its address is stable
/// while operations are in flight, whatever happens to the stream object
/// that owns it.
struct socket_core {
  native_socket handle = invalid_socket;
  // Who uses the socket (the socket_use bits below): a read and a write in
  // flight (a second one in the same direction is refused before it reaches
  // the kernel: lesson 1), a count of other operations (accepts), and
  // whether it is closing. The socket is closed and freed by whoever ends
  // the last use once it is closing: the close itself, or the last
  // operation to finish after it.
  std::atomic<std::uint32_t> uses{0};
  // IOCP: whether the socket is associated with the port yet, and how
  // (lib/backend/iocp/socket_ops.cpp), and its address family (an accept
  // makes the new socket in the listener's family).
  std::atomic<std::uint8_t> port_association{0};
  std::uint8_t family = 0;
  // io_uring: this core is a receiving_core (below). Set when made.
  bool has_receive = false;
  // epoll: the socket's registrations, one per worker that waited on it
  // (lib/backend/epoll/registration.cpp).
  std::atomic<void*> registrations{nullptr};
};

/// io_uring: a socket's multishot receive for read_pooled. One recv stays in
/// the kernel and answers each arrival of data with a buffer of the
/// worker's ring, so a reader that comes back for more submits nothing
/// (lib/backend/uring/multishot_recv.cpp has the rules). 32 bytes, as an
/// idle connection keeps it.
struct multishot_recv {
  std::atomic<bool> locked{false};  // a spin lock over the fields below
  bool used = false;      // armed once: the socket's reads go through here
  bool armed = false;     // the kernel holds the recv (its last CQE is still to come)
  bool stopping = false;  // a cancel of it went in
  bool ended = false;     // `end` is to be read once the queued buffers are
  std::uint8_t queued = 0;       // buffers received that nobody has read yet (saturating)
  std::int16_t end = 0;          // how the recv ended: 0 (the peer's FIN) or a negated errno
  operation* waiter = nullptr;   // the read waiting for data (then nothing is queued)
  void* waiter_home = nullptr;   // the backend it started on (it completes there)
  pooled_block* head = nullptr;  // the queued buffers, through pooled_block::next
};

/// The core of a socket made on an io_uring worker that keeps a multishot
/// recv per socket (sys::new_core decides): room for read_pooled's kept
/// receive, paid by those sockets only (an epoll or IOCP socket stays 24
/// bytes, in a 32-byte heap block).
struct receiving_core : socket_core {
  multishot_recv multishot;
};

/// A socket's kept receive, or null when its core has no room for one.
inline multishot_recv* kept_receive(socket_core& s) noexcept {
  return s.has_receive ? &static_cast<receiving_core&>(s).multishot : nullptr;
}

/// socket_core::uses.
namespace socket_use {
inline constexpr std::uint32_t reading = 1;  // a read (or wait_readable) is in flight
inline constexpr std::uint32_t writing = 2;  // a write is in flight
inline constexpr std::uint32_t closing = 4;  // closed by its owner; new operations are refused
inline constexpr std::uint32_t other = 8;    // one unit of the count of accepts in flight
inline constexpr std::uint32_t in_flight = ~closing;
}  // namespace socket_use

/// A socket address in the OS's own sockaddr layout, filled by the library.
struct address_storage {
  alignas(8) unsigned char bytes[128] = {};
  std::uint32_t size = 0;
};

/// What a datagram operation (recv_from, send_to) keeps alive until it
/// completes: the kernel reads the header at submission and writes the
/// sender's address (and, for recvmsg, the header's name length and flags)
/// at completion, so all of it lives in the awaiter, in the coroutine frame.
struct datagram_state {
  // The datagram's bytes (struct iovec's layout on Linux).
  io_vec buf{};
  // send_to: the destination (size 0: the connected peer). recv_from: where
  // the kernel writes the sender's address (on Windows `size` is
  // WSARecvFrom's in/out length).
  address_storage peer;
#ifdef _WIN32
  // WSARecvFrom's in/out flags.
  std::uint32_t flags = 0;
#else
  // The struct msghdr of recvmsg/sendmsg (checked to fit in the backends).
  alignas(8) unsigned char header[64] = {};
#endif
};

/// What an accept keeps alive until it completes: the peer address (on
/// IOCP, AcceptEx's local+remote address block) and the new socket.
struct accept_state {
  native_socket accepted = invalid_socket;
  std::uint32_t addr_size = 0;
  alignas(8) unsigned char addr[2 * (128 + 16)] = {};
  // epoll: the next accept waiting on the same listener and worker.
  operation* next_waiting = nullptr;
};

/// Begins `op` (its code and arguments set) on the calling thread's worker.
/// Returns true when the operation is in flight: `op.complete` runs later on
/// a worker and the caller must suspend without touching `op` again.
/// Returns false when the operation already finished (success inline, or a
/// failed post) with its result in `op.res`: the caller goes on without
/// suspending (lesson 2). Off a runtime worker it fails at once with
/// std::errc::operation_not_supported.
bool start(operation& op) noexcept;

/// Turns a negative operation result into an error code whose category
/// compares equal to the portable std::errc values.
std::error_code error_from_result(std::int64_t res) noexcept;

/// The (negative) operation result that stands for `e` on every OS.
constexpr std::int64_t result_from(std::errc e) noexcept { return -static_cast<std::int64_t>(e); }

}  // namespace corio::detail
