// corio/detail/io.hpp: what the public awaitables call to start an
// operation on the calling worker's backend. Implemented in lib/core/io.cpp.
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
  // Set while a read (write) is in flight: a second one is refused before it
  // reaches the kernel (lesson 1).
  std::atomic<bool> reading{false};
  std::atomic<bool> writing{false};
  // Backend-private state (epoll: the registered worker and the waiting
  // operations; IOCP: whether the socket is bound to the port).
  void* backend_slots[4] = {};
};

/// A socket address in the OS's own sockaddr layout, filled by the library.
struct address_storage {
  alignas(8) unsigned char bytes[128] = {};
  std::uint32_t size = 0;
};

/// What an accept needs to keep alive until it completes: the peer address
/// (and, on IOCP, AcceptEx's local+remote address block and the socket
/// created for the connection).
struct accept_state {
  native_socket accepted = invalid_socket;
  std::uint32_t addr_size = 0;
  alignas(8) unsigned char addr[2 * (128 + 16)] = {};
};

/// The deadline of a timer operation, in the steady clock's nanoseconds.
struct timer_state {
  std::int64_t deadline_ns = 0;
  // Backend-private (IOCP: the timer's place in the port's heap; the Linux
  // backends keep theirs in operation::aux).
  std::int64_t scratch[1] = {};
};

// Each start_* begins `op` on the calling thread's worker. It returns true
// when the operation is in flight: `op.complete` runs later on a worker and
// the caller must suspend without touching `op` again. It returns false when
// the operation already finished (success inline, or a failed post) with its
// result in `op.res`: the caller goes on without suspending (lesson 2).
// Called off a runtime worker, each fails at once with EINVAL-like
// `operation_not_supported`.
bool start_accept(operation& op, socket_core& listener, accept_state& st) noexcept;
bool start_connect(operation& op, socket_core& sock, const address_storage& to) noexcept;
bool start_recv(operation& op, socket_core& sock, void* data, std::size_t size) noexcept;
bool start_send(operation& op, socket_core& sock, const void* data, std::size_t size) noexcept;
bool start_wait_readable(operation& op, socket_core& sock) noexcept;
bool start_timer(operation& op, timer_state& st) noexcept;

/// Turns a negative operation result into an error code whose category
/// compares equal to the portable std::errc values.
std::error_code error_from_result(std::int64_t res) noexcept;

}  // namespace corio::detail
