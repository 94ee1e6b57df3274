// lib/backend/iocp/socket_ops.cpp: every socket operation as an overlapped
// Winsock call (WSARecv, WSASend, AcceptEx, ConnectEx): one case per
// op_code in start().
//
// Every start follows the same steps: associate the socket with the port
// (first operation only) and learn whether it skips the port on success;
// issue the call with the operation's OVERLAPPED; then after_start decides
// between "in flight" and "finished now" (lesson 2: a call that fails
// without WSA_IO_PENDING queues no packet, so the operation finishes now
// with the error).
#include <algorithm>
#include <climits>
#include <cstring>
#include <thread>

#include "backend/iocp/iocp_backend.hpp"
// iocp_backend.hpp first: it includes <winsock2.h> before <windows.h>.
#include <afunix.h>

#include "core/read_pool.hpp"

namespace corio::detail {

namespace {

// socket_core::port_association: two workers may start the first read and
// the first write of a stream at the same moment.
enum : std::uint8_t {
  assoc_none = 0,  // not associated yet
  assoc_busy = 1,  // a worker is associating it now
  assoc_port = 2,  // associated; every completion comes as a packet
  assoc_skip = 3,  // associated; synchronous successes queue no packet
};
// socket_core::family: the socket's address family (an accept creates its
// socket in the listener's family). Written before the association state
// is published, read after it is seen.

// AcceptEx writes the local and the remote address, each in a slot 16
// bytes longer than the largest address of the protocol (TCP: sockaddr_in6).
constexpr DWORD accept_addr_len = sizeof(sockaddr_in6) + 16;
static_assert(2 * accept_addr_len <= sizeof(accept_state::addr));
// The same for a Unix-domain listener (AF_UNIX: sockaddr_un).
constexpr DWORD local_accept_addr_len = sizeof(sockaddr_un) + 16;
static_assert(2 * local_accept_addr_len <= sizeof(accept_state::addr));

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
  return s.port_association.load(std::memory_order_acquire) == assoc_skip;
}

result<bool> iocp_backend::associate(socket_core& s) noexcept {
  auto& slot = s.port_association;
  std::uint8_t state = slot.load(std::memory_order_acquire);
  for (;;) {
    if (state >= assoc_port) return state == assoc_skip;  // the common case: one load
    if (state == assoc_none) {
      if (slot.compare_exchange_weak(state, assoc_busy, std::memory_order_acquire)) break;
      continue;
    }
    // Another worker is associating this socket; it takes three calls.
    std::this_thread::yield();
    state = slot.load(std::memory_order_acquire);
  }

  const SOCKET h = win::to_socket(s.handle);
  auto give_up = [&](DWORD error) -> result<bool> {
    slot.store(assoc_none, std::memory_order_release);
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
  // TRICKY: not for datagram sockets. A WSARecvFrom that finds a datagram
  // too large for its buffer ends with STATUS_BUFFER_OVERFLOW, a warning,
  // not an error: it fails synchronously with WSAEMSGSIZE, and yet the I/O
  // manager queues its packet as for a success (libuv works around the
  // same for its UDP handles). Through the port, every datagram completes
  // one way: by its packet (see start_datagram).
  const bool skip = (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0 &&
                    info.iSocketType != SOCK_DGRAM &&
                    ::SetFileCompletionNotificationModes(
                        reinterpret_cast<HANDLE>(h),
                        FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE);
  s.family = static_cast<std::uint8_t>(info.iAddressFamily);
  slot.store(skip ? assoc_skip : assoc_port, std::memory_order_release);
  return skip;
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
//   worker A: reads s.port_association to decide whether to finish inline
//             -> reads freed memory, and may resume the coroutine twice
// With `skip` read first, A decides from a local: without skip-on-success
// it returns true and touches nothing; with it, there is no packet, and op
// is still A's alone. (cppcoro's socket operations do the same.)

bool iocp_backend::start(operation& op) noexcept {
  if (op.code == op_code::timer) return start_timer(op);
  if (is_file_code(op.code)) return start_file(op);  // file_ops.cpp
  const auto skip = associate(*op.sock);
  if (!skip) return fail_now(op, res_from(skip.error()));
  // The kernel requires a zeroed OVERLAPPED (hEvent null: no event to set,
  // and the completion goes to the port).
  op.overlapped = {};
  switch (op.code) {
    case op_code::accept: return start_accept(op, *skip);
    case op_code::connect: return start_connect(op, *skip);
    case op_code::recv_from:
    case op_code::send_to: return start_datagram(op, *skip);
    default: return start_transfer(op, *skip);
  }
}

bool iocp_backend::start_transfer(operation& op, bool skip) noexcept {
  const SOCKET h = win::to_socket(op.sock->handle);
  // WSASend does not write through the buffers; WSABUF is shared with
  // WSARecv. The array may live on this stack: Winsock captures it before
  // the call returns, even for an overlapped call.
  WSABUF bufs[max_io_vecs];
  DWORD count = 1;
  switch (op.code) {
    case op_code::recv:
    case op_code::send:
      bufs[0] = {clamp_len(op.args.buf.size), static_cast<char*>(op.args.buf.data)};
      break;
    case op_code::send_vectored:
      count = static_cast<DWORD>(std::min(op.args.vec.count, max_io_vecs));
      for (DWORD i = 0; i < count; ++i) {
        bufs[i] = {clamp_len(op.args.vec.vecs[i].size),
                   static_cast<char*>(const_cast<void*>(op.args.vec.vecs[i].data))};
      }
      break;
    case op_code::wait_readable:
    case op_code::recv_pooled:
      // The zero-byte WSARecv: completes when data (or the end of the
      // stream) arrives, with no buffer locked for the wait. read_pooled
      // then reads into a pool block (settle_pooled).
      bufs[0] = {0, nullptr};
      break;
    default:
      return fail_now(op, win::res_from_errc(std::errc::invalid_argument));
  }
  started();
  // No byte count out-parameter: Microsoft advises null with an OVERLAPPED;
  // a synchronous result is read from the OVERLAPPED instead.
  bool ok;
  if (op.code == op_code::recv || op.code == op_code::wait_readable ||
      op.code == op_code::recv_pooled) {
    DWORD flags = 0;
    ok = ::WSARecv(h, bufs, count, nullptr, &flags, overlapped_of(op), nullptr) == 0;
  } else {
    ok = ::WSASend(h, bufs, count, nullptr, 0, overlapped_of(op), nullptr) == 0;
  }
  return after_start(op, ok, skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

bool iocp_backend::start_datagram(operation& op, bool skip) noexcept {
  const SOCKET h = win::to_socket(op.sock->handle);
  datagram_state& st = *op.args.datagram;
  WSABUF buf{clamp_len(st.buf.size), static_cast<char*>(const_cast<void*>(st.buf.data))};
  started();
  bool ok;
  if (op.code == op_code::recv_from) {
    // The sender's address, its length and the flags are written when the
    // datagram arrives, so they live in the awaiter (st) until the packet.
    st.peer.size = sizeof st.peer.bytes;
    st.flags = 0;
    ok = ::WSARecvFrom(h, &buf, 1, nullptr, reinterpret_cast<DWORD*>(&st.flags),
                       reinterpret_cast<sockaddr*>(st.peer.bytes),
                       reinterpret_cast<INT*>(&st.peer.size), overlapped_of(op), nullptr) == 0;
  } else {
    // No address: the connected peer's.
    const sockaddr* to = st.peer.size ? reinterpret_cast<const sockaddr*>(st.peer.bytes) : nullptr;
    ok = ::WSASendTo(h, &buf, 1, nullptr, 0, to, static_cast<int>(st.peer.size), overlapped_of(op),
                     nullptr) == 0;
  }
  const DWORD error = ok ? 0 : static_cast<DWORD>(::WSAGetLastError());
  // TRICKY: a datagram cut to the buffer fails the call synchronously with
  // WSAEMSGSIZE, but its status is a warning, for which the packet is
  // queued all the same (datagram sockets never skip the port: see
  // associate). Taking the error as final would resume the coroutine twice.
  if (!ok && error == WSAEMSGSIZE && op.code == op_code::recv_from && !skip)
    return after_start(op, true, skip, 0);
  return after_start(op, ok, skip, error);
}

bool iocp_backend::start_accept(operation& op, bool skip) noexcept {
  // AcceptEx takes the connection's socket ready-made, in the listener's family.
  const bool local = op.sock->family == AF_UNIX;
  auto accepted = local ? win::open_unix_socket()
                        : win::open_tcp_socket(op.sock->family == AF_INET6 ? AF_INET6 : AF_INET);
  if (!accepted) return fail_now(op, res_from(accepted.error()));
  accept_state& st = *op.args.accept;
  st.accepted = *accepted;
  const SOCKET l = win::to_socket(op.sock->handle);
  const DWORD addr_len = local ? local_accept_addr_len : accept_addr_len;
  started();
  DWORD bytes = 0;
  // No receive buffer (length 0): complete as soon as a connection arrives.
  const bool ok = port_->fns().accept_ex(l, win::to_socket(*accepted), st.addr, 0, addr_len,
                                         addr_len, &bytes, overlapped_of(op)) != FALSE;
  return after_start(op, ok, skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

std::int64_t iocp_backend::settle_pooled(operation& op, std::int64_t res) noexcept {
  if (res < 0) return res;  // the wait failed or was cancelled
  pooled_block* b = take_pool_block();
  if (!b) return win::res_from_errc(std::errc::not_enough_memory);
  // The zero-byte receive completed: data, the end of the stream or an
  // error is there, so this receive (the socket is in blocking mode, as
  // Winsock makes it) returns at once. One reader at a time (the read
  // direction's claim), so nothing else can take the data in between.
  const int n = ::recv(win::to_socket(op.sock->handle), reinterpret_cast<char*>(b->data),
                       static_cast<int>(b->capacity), 0);
  if (n > 0) {
    op.args.pooled.block = b;
    return n;
  }
  release_pooled(b);
  if (n == 0) return 0;
  return win::res_from_win32(static_cast<DWORD>(::WSAGetLastError()));
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
  win::close_socket(st.accepted);
  st.accepted = invalid_socket;
  return res;
}

bool iocp_backend::start_connect(operation& op, bool skip) noexcept {
  const SOCKET h = win::to_socket(op.sock->handle);
  const address_storage& to = *op.args.connect_to;
  // ConnectEx needs a bound socket: any address, port 0, in the peer's
  // family (a Unix-domain socket connects unnamed).
  sockaddr_storage any{};
  std::memcpy(&any.ss_family, to.bytes, sizeof any.ss_family);
  const int any_len = any.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (any.ss_family != AF_UNIX && ::bind(h, reinterpret_cast<const sockaddr*>(&any), any_len) != 0) {
    const int e = ::WSAGetLastError();
    if (e != WSAEINVAL) return fail_now(op, win::res_from_win32(static_cast<DWORD>(e)));
    // WSAEINVAL: already bound, which is all ConnectEx asks.
  }
  started();
  const bool ok = port_->fns().connect_ex(h, reinterpret_cast<const sockaddr*>(to.bytes),
                                          static_cast<int>(to.size), nullptr, 0, nullptr,
                                          overlapped_of(op)) != FALSE;
  return after_start(op, ok, skip, ok ? 0 : static_cast<DWORD>(::WSAGetLastError()));
}

std::int64_t iocp_backend::settle_connect(SOCKET s, std::int64_t res) noexcept {
  if (res < 0) return res;
  // Makes getpeername, shutdown and the like work on the connected socket.
  if (::setsockopt(s, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0)
    return win::res_from_win32(static_cast<DWORD>(::WSAGetLastError()));
  return 0;
}

}  // namespace corio::detail
