// lib/backend/iocp/socket_ops.cpp: accept, connect, recv and send as
// overlapped Winsock operations (AcceptEx, ConnectEx, WSARecv, WSASend).
//
// Every start follows the same steps: refuse at once if the test hook says
// so; associate the socket with the port (first operation only) and learn
// whether it skips the port on success; issue the call with the operation's
// OVERLAPPED; then after_start decides between "in flight" and "finished
// now" (lesson 2: a call that fails without WSA_IO_PENDING queues no
// packet, so the operation finishes now with the error).
#include <algorithm>
#include <climits>
#include <cstring>
#include <thread>

#include "backend/iocp/iocp_backend.hpp"
#include "sys/socket.hpp"

namespace corio::detail {

namespace {

// socket_core::backend_slots[0]: the socket's association with the port.
// Changed only through std::atomic_ref: two workers may start the first
// read and the first write of a stream at the same moment.
enum : std::uintptr_t {
  assoc_none = 0,  // not associated yet
  assoc_busy = 1,  // a worker is associating it now
  assoc_port = 2,  // associated; every completion comes as a packet
  assoc_skip = 3,  // associated; synchronous successes queue no packet
};
// socket_core::backend_slots[1]: the socket's address family (an accept
// creates its socket in the listener's family). Written before the
// association state is published, read after it is seen.

std::uintptr_t assoc_state(const void* slot) noexcept {
  return reinterpret_cast<std::uintptr_t>(slot);
}
void* assoc_slot(std::uintptr_t state) noexcept {
  return reinterpret_cast<void*>(state);
}

// AcceptEx writes the local and the remote address, each in a slot 16
// bytes longer than the largest address of the protocol (TCP: sockaddr_in6).
constexpr DWORD accept_addr_len = sizeof(sockaddr_in6) + 16;
static_assert(2 * accept_addr_len <= sizeof(accept_state::addr));

std::int64_t res_from(const std::error_code& ec) noexcept {
  if (ec.category() == win::win32_category())
    return win::res_from_win32(static_cast<DWORD>(ec.value()));
  return -static_cast<std::int64_t>(ec.value());
}

// A length Winsock takes: WSABUF::len is a ULONG, and results are reported
// in an int-sized count. A shorter transfer than asked is allowed anyway.
ULONG clamp_len(std::size_t size) noexcept {
  return static_cast<ULONG>(std::min<std::size_t>(size, INT_MAX));
}

}  // namespace

bool iocp_backend::skips_port_on_success(const socket_core& s) noexcept {
  // atomic_ref<const T> is C++26; the socket_core itself is never const.
  std::atomic_ref<void*> slot(const_cast<void*&>(s.backend_slots[0]));
  return assoc_state(slot.load(std::memory_order_acquire)) == assoc_skip;
}

result<bool> iocp_backend::associate(socket_core& s) noexcept {
  std::atomic_ref<void*> slot(s.backend_slots[0]);
  std::uintptr_t state = assoc_state(slot.load(std::memory_order_acquire));
  for (;;) {
    if (state >= assoc_port) return state == assoc_skip;  // the common case: one load
    if (state == assoc_none) {
      void* expected = assoc_slot(assoc_none);
      if (slot.compare_exchange_weak(expected, assoc_slot(assoc_busy), std::memory_order_acquire))
        break;
      state = assoc_state(expected);
      continue;
    }
    // Another worker is associating this socket; it takes three calls.
    std::this_thread::yield();
    state = assoc_state(slot.load(std::memory_order_acquire));
  }

  const SOCKET h = win::to_socket(s.handle);
  auto give_up = [&](DWORD error) -> result<bool> {
    slot.store(assoc_slot(assoc_none), std::memory_order_release);
    return fail(win::win32_error(error));
  };
  WSAPROTOCOL_INFOW info{};
  int len = sizeof info;
  if (::getsockopt(h, SOL_SOCKET, SO_PROTOCOL_INFOW, reinterpret_cast<char*>(&info), &len) != 0)
    return give_up(static_cast<DWORD>(::WSAGetLastError()));
  if (!::CreateIoCompletionPort(reinterpret_cast<HANDLE>(h), port_->handle(), key_io, 0))
    return give_up(::GetLastError());
  // Skipping the port is safe only where the socket is a real file handle
  // of an IFS provider: a layered provider may complete synchronously and
  // still queue a packet, which would resume the coroutine twice.
  // FILE_SKIP_SET_EVENT_ON_HANDLE: nobody waits on the socket handle itself.
  const bool skip = (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0 &&
                    ::SetFileCompletionNotificationModes(
                        reinterpret_cast<HANDLE>(h),
                        FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE);
  s.backend_slots[1] = assoc_slot(static_cast<std::uintptr_t>(info.iAddressFamily));
  slot.store(assoc_slot(skip ? assoc_skip : assoc_port), std::memory_order_release);
  return skip;
}

void iocp_backend::prepare(operation& op, SOCKET s, op_kind kind) noexcept {
  // The kernel requires a zeroed OVERLAPPED (hEvent null: no event to set,
  // and the completion goes to the port).
  op.overlapped = {};
  aux_ref(op).store(pack_aux(s, kind), std::memory_order_release);
}

bool iocp_backend::after_start(operation& op, bool ok, bool skip, DWORD error) noexcept {
  if (ok) {
    // Finished synchronously. Without skip-on-success its packet is queued
    // all the same and will complete the operation, maybe on another worker
    // right now: it is in flight and must not be touched.
    if (!skip) return true;
    // With it, no packet will come: the result is in the OVERLAPPED.
    return finish_inline(op, settle(op, static_cast<std::int64_t>(op.overlapped.internal_high)));
  }
  if (error == WSA_IO_PENDING) return true;  // == ERROR_IO_PENDING
  // Lesson 2: no packet will come for a call that failed.
  finished();
  return fail_now(op, settle(op, win::res_from_win32(error)));
}

// TRICKY, for every start below: whether the socket skips the port on
// success is read (by associate) before the call, never after. Once the
// call has queued the operation, its packet may be dequeued at once by
// another worker:
//   worker A: WSARecv(...) returns 0 (success, and a packet is queued)
//   worker B: dequeues the packet, resumes the coroutine, which returns
//             from read() and closes the stream: the awaiter (op) and the
//             socket_core are freed
//   worker A: reads s.backend_slots[0] to decide whether to finish inline
//             -> reads freed memory, and may resume the coroutine twice
// With `skip` read first, A decides from a local: without skip-on-success
// it returns true and touches nothing; with it, there is no packet, and op
// is still A's alone. (cppcoro's socket operations do the same.)

bool iocp_backend::start_recv(operation& op, socket_core& s, void* data,
                              std::size_t size) noexcept {
  if (take_injected_failure()) return fail_now(op, injected_failure_res);
  const auto skip = associate(s);
  if (!skip) return fail_now(op, res_from(skip.error()));
  const SOCKET h = win::to_socket(s.handle);
  prepare(op, h, op_kind::io);
  WSABUF buf{clamp_len(size), static_cast<char*>(data)};
  DWORD flags = 0;
  started();
  // No byte count out-parameter: Microsoft advises null with an OVERLAPPED;
  // a synchronous result is read from the OVERLAPPED instead.
  const bool ok = ::WSARecv(h, &buf, 1, nullptr, &flags, overlapped_of(op), nullptr) == 0;
  return after_start(op, ok, *skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

// The zero-byte WSARecv: completes when data (or the end of the stream)
// arrives, with no buffer locked for the wait.
bool iocp_backend::start_wait_readable(operation& op, socket_core& s) noexcept {
  static char unused;
  return start_recv(op, s, &unused, 0);
}

bool iocp_backend::start_send(operation& op, socket_core& s, const void* data,
                              std::size_t size) noexcept {
  if (take_injected_failure()) return fail_now(op, injected_failure_res);
  const auto skip = associate(s);
  if (!skip) return fail_now(op, res_from(skip.error()));
  const SOCKET h = win::to_socket(s.handle);
  prepare(op, h, op_kind::io);
  // WSASend does not write through the buffer; WSABUF is shared with WSARecv.
  WSABUF buf{clamp_len(size), static_cast<char*>(const_cast<void*>(data))};
  started();
  const bool ok = ::WSASend(h, &buf, 1, nullptr, 0, overlapped_of(op), nullptr) == 0;
  return after_start(op, ok, *skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

bool iocp_backend::start_accept(operation& op, socket_core& listener, accept_state& st) noexcept {
  if (take_injected_failure()) return fail_now(op, injected_failure_res);
  const auto skip = associate(listener);
  if (!skip) return fail_now(op, res_from(skip.error()));
  // AcceptEx takes the connection's socket ready-made, in the listener's family.
  const auto family = static_cast<int>(assoc_state(listener.backend_slots[1]));
  auto accepted =
      sys::open_tcp(family == AF_INET6 ? net::endpoint::family::v6 : net::endpoint::family::v4);
  if (!accepted) return fail_now(op, res_from(accepted.error()));
  st.accepted = *accepted;
  const SOCKET l = win::to_socket(listener.handle);
  prepare(op, l, op_kind::accept);
  // The in-flight res word: where the completion finds the new socket.
  op.res = reinterpret_cast<std::intptr_t>(&st);
  started();
  DWORD bytes = 0;
  // No receive buffer (length 0): complete as soon as a connection arrives.
  const bool ok = port_->fns().accept_ex(l, win::to_socket(*accepted), st.addr, 0, accept_addr_len,
                                         accept_addr_len, &bytes, overlapped_of(op)) != FALSE;
  return after_start(op, ok, *skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

std::int64_t iocp_backend::settle_accept(accept_state& st, SOCKET listener,
                                         std::int64_t res) noexcept {
  if (res >= 0) {
    // The new socket takes the listener's properties; without this,
    // getpeername, getsockname and shutdown fail on it.
    if (::setsockopt(win::to_socket(st.accepted), SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                     reinterpret_cast<const char*>(&listener), sizeof listener) == 0)
      return 0;  // the awaiter takes st.accepted
    res = win::res_from_win32(static_cast<DWORD>(::WSAGetLastError()));
  }
  // Failed (the listener was closed, the accept cancelled, ...): the socket
  // made for the connection is ours to close, or it leaks.
  sys::close_handle(st.accepted);
  st.accepted = invalid_socket;
  return res;
}

bool iocp_backend::start_connect(operation& op, socket_core& s,
                                 const address_storage& to) noexcept {
  if (take_injected_failure()) return fail_now(op, injected_failure_res);
  const auto skip = associate(s);
  if (!skip) return fail_now(op, res_from(skip.error()));
  const SOCKET h = win::to_socket(s.handle);
  // ConnectEx needs a bound socket: any address, port 0, in the peer's family.
  sockaddr_storage any{};
  std::memcpy(&any.ss_family, to.bytes, sizeof any.ss_family);
  const int any_len = any.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(h, reinterpret_cast<const sockaddr*>(&any), any_len) != 0) {
    const int e = ::WSAGetLastError();
    if (e != WSAEINVAL) return fail_now(op, win::res_from_win32(static_cast<DWORD>(e)));
    // WSAEINVAL: already bound, which is all ConnectEx asks.
  }
  prepare(op, h, op_kind::connect);
  started();
  const bool ok = port_->fns().connect_ex(h, reinterpret_cast<const sockaddr*>(to.bytes),
                                          static_cast<int>(to.size), nullptr, 0, nullptr,
                                          overlapped_of(op)) != FALSE;
  return after_start(op, ok, *skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

std::int64_t iocp_backend::settle_connect(SOCKET s, std::int64_t res) noexcept {
  if (res < 0) return res;
  // Makes getpeername, shutdown and the like work on the connected socket.
  if (::setsockopt(s, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0)
    return win::res_from_win32(static_cast<DWORD>(::WSAGetLastError()));
  return 0;
}

}  // namespace corio::detail
