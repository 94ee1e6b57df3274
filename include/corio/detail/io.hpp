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
  // Set while a read (write) is in flight: a second one is refused before it
  // reaches the kernel (lesson 1).
  std::atomic<bool> reading{false};
  std::atomic<bool> writing{false};
  // IOCP: whether the socket is associated with the port yet, and how
  // (lib/backend/iocp/socket_ops.cpp), and its address family (an accept
  // makes the new socket in the listener's family).
  std::atomic<std::uint8_t> port_association{0};
  std::uint8_t family = 0;
  // epoll: the socket's registrations, one per worker that waited on it
  // (lib/backend/epoll/registration.cpp).
  std::atomic<void*> registrations{nullptr};
};

/// A socket address in the OS's own sockaddr layout, filled by the library.
struct address_storage {
  alignas(8) unsigned char bytes[128] = {};
  std::uint32_t size = 0;
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
