// lib/sys/win/winsock.hpp: what the IOCP backend shares with the Windows
// socket calls (sys/win/socket.cpp): Winsock start-up, the extension
// functions, and the one encoding of errors in operation::res.
//
// Only Windows sources include this header; portable code never sees
// <windows.h>.
#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
// winsock2.h must come before windows.h.
// clang-format off
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
// clang-format on

#include <cstdint>
#include <system_error>

#include "corio/detail/io.hpp"
#include "corio/result.hpp"

namespace corio::detail::win {

/// The Winsock extension functions corio calls. They are loaded once per
/// process from the base provider (as libuv and Asio do), not per socket.
struct extensions {
  LPFN_ACCEPTEX accept_ex = nullptr;
  LPFN_CONNECTEX connect_ex = nullptr;
};

/// Starts Winsock 2.2 and loads the extension functions, once per process
/// (thread-safe). Every call returns the first call's outcome. Winsock is
/// never cleaned up: sockets may outlive any object that could do it.
result<const extensions*> winsock() noexcept;

inline SOCKET to_socket(native_socket h) noexcept {
  return static_cast<SOCKET>(h);
}

// ---------------------------------------------------------------------------
// Errors in operation::res
//
// On Windows a negative operation::res is one of two things:
//   -e                 with 0 < e < 2^32: a portable errno value, the value of
//                      a std::errc (what lib/core writes for an operation
//                      started off a worker, and what the injected-failure
//                      hook writes: EAGAIN);
//   -(2^32 + code)     a Win32 or Winsock error code (GetLastError,
//                      WSAGetLastError, or RtlNtStatusToDosError of a
//                      completion's NTSTATUS), kept as it is.
// error_from_result turns the first into generic_category and the second
// into win32_category(), whose codes compare equal to the std::errc value
// with the same meaning (WSAECONNREFUSED and ERROR_CONNECTION_REFUSED both
// == std::errc::connection_refused, ERROR_OPERATION_ABORTED ==
// std::errc::operation_canceled, ...). libstdc++'s own system_category does
// not do that on MinGW: in GCC 12 it maps no Winsock code at all and maps
// ERROR_NETNAME_DELETED (a reset connection) to "no such file".

inline constexpr std::int64_t win32_tag = std::int64_t{1} << 32;

/// The result of an operation that failed with Win32/Winsock error `code`.
constexpr std::int64_t res_from_win32(DWORD code) noexcept {
  return -(win32_tag + static_cast<std::int64_t>(code));
}
/// The result of an operation that failed with a portable error.
constexpr std::int64_t res_from_errc(std::errc e) noexcept {
  return -static_cast<std::int64_t>(e);
}

/// Win32 and Winsock error codes, with messages from the system and
/// std::errc equivalents where one exists.
const std::error_category& win32_category() noexcept;

inline std::error_code win32_error(DWORD code) noexcept {
  return {static_cast<int>(code), win32_category()};
}

// ---------------------------------------------------------------------------
// Sockets

/// A new overlapped TCP socket of address family `domain` (AF_INET,
/// AF_INET6), not inherited by child processes; close it with
/// sys::close_handle (or through a socket_core).
result<native_socket> open_tcp_socket(int domain) noexcept;
/// A new overlapped Unix-domain stream socket (AF_UNIX, Windows 10 1803+),
/// or std::errc::not_supported where the system has none.
result<native_socket> open_unix_socket() noexcept;
/// Closes a socket that no socket_core owns (sys::close_handle).
void close_socket(native_socket h) noexcept;

// ---------------------------------------------------------------------------
// Test hooks

/// Sockets opened by open_tcp and not yet closed by close_handle: a test
/// that ends with the count it began with leaked no socket.
std::int64_t open_socket_count() noexcept;

}  // namespace corio::detail::win
