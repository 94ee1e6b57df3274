// lib/sys/win/socket.cpp: synchronous socket calls on Windows, Winsock
// start-up, and the Win32 error category (see winsock.hpp).
#include "sys/win/winsock.hpp"
// winsock.hpp first: it includes <winsock2.h> before <windows.h>.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>

#include "sys/socket.hpp"

namespace corio::detail {
namespace win {
namespace {

std::atomic<std::int64_t> open_sockets{0};

struct winsock_state {
  std::error_code error;
  extensions fns;
};

// Loads one extension function through a throwaway socket of the base
// provider.
template <class Fn>
bool load_extension(SOCKET s, GUID guid, Fn& out) noexcept {
  DWORD bytes = 0;
  return ::WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, &out, sizeof out,
                    &bytes, nullptr, nullptr) == 0;
}

winsock_state start_winsock() noexcept {
  winsock_state st;
  WSADATA data{};
  if (int r = ::WSAStartup(MAKEWORD(2, 2), &data); r != 0) {
    st.error = win32_error(static_cast<DWORD>(r));
    return st;
  }
  SOCKET s = ::WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  if (s == INVALID_SOCKET) {
    st.error = win32_error(static_cast<DWORD>(::WSAGetLastError()));
    return st;
  }
  if (!load_extension(s, WSAID_ACCEPTEX, st.fns.accept_ex) ||
      !load_extension(s, WSAID_CONNECTEX, st.fns.connect_ex)) {
    st.error = win32_error(static_cast<DWORD>(::WSAGetLastError()));
  }
  ::closesocket(s);
  return st;
}

// The portable meaning of a Win32 or Winsock error, or 0 where none fits.
int portable_errno(DWORD code) noexcept {
  using enum std::errc;
  std::errc e{};
  // clang-format off
  switch (code) {
    // Cancelled: CancelIoEx, a closed socket, a thread that exited.
    case ERROR_OPERATION_ABORTED:  // == WSA_OPERATION_ABORTED
    case ERROR_CANCELLED:
    case WSAECANCELLED: e = operation_canceled; break;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
    case ERROR_PORT_UNREACHABLE: e = connection_refused; break;  // a connected UDP socket's ICMP
    // STATUS_CONNECTION_RESET, STATUS_LOCAL_DISCONNECT and
    // STATUS_REMOTE_DISCONNECT all arrive as ERROR_NETNAME_DELETED.
    case WSAECONNRESET:
    case ERROR_NETNAME_DELETED: e = connection_reset; break;
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
    case ERROR_REQUEST_ABORTED: e = connection_aborted; break;
    case WSAEADDRINUSE:
    case ERROR_ADDRESS_ALREADY_ASSOCIATED: e = address_in_use; break;
    case WSAEADDRNOTAVAIL: e = address_not_available; break;
    case WSAEAFNOSUPPORT: e = address_family_not_supported; break;
    case WSAEALREADY:
    case ERROR_CONNECTION_ACTIVE: e = connection_already_in_progress; break;
    case WSAEISCONN: e = already_connected; break;
    case WSAENOTCONN:
    case ERROR_CONNECTION_INVALID: e = not_connected; break;
    case WSAESHUTDOWN: e = broken_pipe; break;  // a send after shutdown(send), as EPIPE
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:  // STATUS_IO_TIMEOUT
    case ERROR_TIMEOUT: e = timed_out; break;
    case WSAEHOSTUNREACH:
    case ERROR_HOST_UNREACHABLE: e = host_unreachable; break;
    case WSAENETUNREACH:
    case ERROR_NETWORK_UNREACHABLE: e = network_unreachable; break;
    case WSAENETDOWN: e = network_down; break;
    case WSAENETRESET: e = network_reset; break;
    case WSAENOBUFS:
    case ERROR_NO_SYSTEM_RESOURCES:  // STATUS_INSUFFICIENT_RESOURCES
      e = no_buffer_space;
      break;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY: e = not_enough_memory; break;
    case WSAEMFILE:
    case ERROR_TOO_MANY_OPEN_FILES: e = too_many_files_open; break;
    case WSAEWOULDBLOCK: e = operation_would_block; break;
    case WSAEINPROGRESS: e = operation_in_progress; break;
    case WSAEINTR: e = interrupted; break;
    case WSAEBADF:
    case ERROR_INVALID_HANDLE: e = bad_file_descriptor; break;
    case WSAENOTSOCK: e = not_a_socket; break;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED: e = permission_denied; break;
    // Files (fs::file).
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_BAD_NETPATH: e = no_such_file_or_directory; break;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS: e = file_exists; break;
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION: e = device_or_resource_busy; break;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL: e = no_space_on_device; break;
    case ERROR_DIRECTORY: e = not_a_directory; break;
    case ERROR_FILENAME_EXCED_RANGE: e = filename_too_long; break;
    case WSAEFAULT: e = bad_address; break;
    case WSAEINVAL:
    case ERROR_INVALID_PARAMETER: e = invalid_argument; break;
    case WSAEMSGSIZE:
    case ERROR_MORE_DATA: e = message_size; break;  // STATUS_BUFFER_OVERFLOW: a datagram cut
    case WSAEDESTADDRREQ: e = destination_address_required; break;
    case WSAEPROTOTYPE: e = wrong_protocol_type; break;
    case WSAENOPROTOOPT: e = no_protocol_option; break;
    case WSAEPROTONOSUPPORT: e = protocol_not_supported; break;
    case WSAEOPNOTSUPP: e = operation_not_supported; break;
    case ERROR_NOT_SUPPORTED: e = not_supported; break;
    default: return 0;
  }
  // clang-format on
  return static_cast<int>(e);
}

class win32_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "win32"; }
  std::string message(int ev) const override {
    char* text = nullptr;
    DWORD n = ::FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, static_cast<DWORD>(ev), 0, reinterpret_cast<char*>(&text), 0, nullptr);
    std::string out;
    if (n != 0 && text) out.assign(text, n);
    if (text) ::LocalFree(text);
    while (!out.empty() &&
           (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' || out.back() == '.'))
      out.pop_back();
    if (out.empty()) out = "Win32 error " + std::to_string(ev);
    return out;
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    if (int e = portable_errno(static_cast<DWORD>(ev)); e != 0) return {e, std::generic_category()};
    return {ev, *this};
  }
};

}  // namespace

const std::error_category& win32_category() noexcept {
  static const win32_category_impl c;
  return c;
}

result<const extensions*> winsock() noexcept {
  static const winsock_state st = start_winsock();
  if (st.error) return fail(st.error);
  return &st.fns;
}

result<native_socket> open_tcp_socket(int domain) noexcept {
  if (auto ws = winsock(); !ws) return fail(ws.error());
  // Overlapped, so the IOCP backend can run it; not inherited by child
  // processes (close-on-exec).
  SOCKET s = ::WSASocketW(domain, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return fail(win32_error(static_cast<DWORD>(::WSAGetLastError())));
  open_sockets.fetch_add(1, std::memory_order_relaxed);
  return static_cast<native_socket>(s);
}

result<native_socket> open_unix_socket() noexcept {
  if (auto ws = winsock(); !ws) return fail(ws.error());
  SOCKET s = ::WSASocketW(AF_UNIX, SOCK_STREAM, 0, nullptr, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    const int e = ::WSAGetLastError();
    // Windows before 10 1803 (and a system whose AF_UNIX provider is
    // missing) has no such family.
    if (e == WSAEAFNOSUPPORT || e == WSAEPROTONOSUPPORT || e == WSAESOCKTNOSUPPORT ||
        e == WSAEINVAL)
      return fail(std::errc::not_supported);
    return fail(win32_error(static_cast<DWORD>(e)));
  }
  open_sockets.fetch_add(1, std::memory_order_relaxed);
  return static_cast<native_socket>(s);
}

void close_socket(native_socket h) noexcept {
  // closesocket also cancels whatever is still in flight on the socket;
  // those operations complete through the port with ERROR_OPERATION_ABORTED.
  ::closesocket(to_socket(h));
  open_sockets.fetch_sub(1, std::memory_order_relaxed);
}

std::int64_t open_socket_count() noexcept {
  return open_sockets.load(std::memory_order_relaxed);
}

}  // namespace win

namespace sys {

std::error_code last_error() noexcept {
  return win::win32_error(static_cast<DWORD>(::WSAGetLastError()));
}

result<native_socket> open_tcp(net::endpoint::family af) noexcept {
  return win::open_tcp_socket(af == net::endpoint::family::v4 ? AF_INET : AF_INET6);
}

void close_handle(native_socket h) noexcept { win::close_socket(h); }

namespace {
// SIO_UDP_CONNRESET (mstcpip.h; MinGW's headers may lack it): whether an
// ICMP "port unreachable" fails the socket's next receive (WSAECONNRESET).
result<void> report_port_unreachable(SOCKET s, bool on) noexcept {
#ifndef SIO_UDP_CONNRESET
  constexpr DWORD SIO_UDP_CONNRESET = _WSAIOW(IOC_VENDOR, 12);
#endif
  BOOL v = on ? TRUE : FALSE;
  DWORD bytes = 0;
  if (::WSAIoctl(s, SIO_UDP_CONNRESET, &v, sizeof v, nullptr, 0, &bytes, nullptr, nullptr) != 0)
    return fail(last_error());
  return {};
}
}  // namespace

result<native_socket> open_udp(net::endpoint::family af) noexcept {
  if (auto ws = win::winsock(); !ws) return fail(ws.error());
  const int domain = af == net::endpoint::family::v4 ? AF_INET : AF_INET6;
  SOCKET s = ::WSASocketW(domain, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return fail(last_error());
  win::open_sockets.fetch_add(1, std::memory_order_relaxed);
  // Unconnected: a datagram refused by one peer must not fail the receive
  // that waits for the others (Linux reports nothing there either). Best
  // effort: a system without the control code reports as it always did.
  (void)report_port_unreachable(s, false);
  return static_cast<native_socket>(s);
}

result<native_socket> open_unix() noexcept { return win::open_unix_socket(); }

result<void> bind_listen_at(native_socket h, const address_storage& addr, int backlog) noexcept {
  const SOCKET s = win::to_socket(h);
  if (::bind(s, reinterpret_cast<const sockaddr*>(addr.bytes), static_cast<int>(addr.size)) != 0)
    return fail(last_error());
  if (::listen(s, backlog) != 0) return fail(last_error());
  return {};
}

result<void> bind_to(native_socket h, const net::endpoint& at) noexcept {
  address_storage addr;
  to_sockaddr(at, addr);
  if (::bind(win::to_socket(h), reinterpret_cast<const sockaddr*>(addr.bytes),
             static_cast<int>(addr.size)) != 0)
    return fail(last_error());
  return {};
}

result<void> connect_datagram(native_socket h, const net::endpoint& peer) noexcept {
  address_storage addr;
  to_sockaddr(peer, addr);
  const SOCKET s = win::to_socket(h);
  if (::connect(s, reinterpret_cast<const sockaddr*>(addr.bytes), static_cast<int>(addr.size)) != 0)
    return fail(last_error());
  // Connected: "port unreachable" is the peer's answer, as on Linux.
  (void)report_port_unreachable(s, true);
  return {};
}

result<void> bind_listen(native_socket h, const net::endpoint& at,
                         const net::listen_options& options) noexcept {
  SOCKET s = win::to_socket(h);
  // SO_REUSEADDR on Windows lets a second socket steal a port that is in
  // use, so `reuse_address` (which on POSIX only avoids TIME_WAIT trouble)
  // is not passed on: every listener is exclusive, and binding a port in use
  // fails with address_in_use. Windows lets a listener rebind a port in
  // TIME_WAIT anyway.
  BOOL one = TRUE;
  if (::setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&one),
                   sizeof one) != 0)
    return fail(last_error());
  if (options.reuse_port) return fail(std::errc::not_supported);  // Linux only
  address_storage addr;
  to_sockaddr(at, addr);
  if (::bind(s, reinterpret_cast<const sockaddr*>(addr.bytes), static_cast<int>(addr.size)) != 0)
    return fail(last_error());
  if (::listen(s, options.backlog) != 0) return fail(last_error());
  return {};
}

result<void> bind_source(native_socket h, const net::endpoint& from) noexcept {
  SOCKET s = win::to_socket(h);
  if (from.port() == 0) {
    // Windows 10+: the port of a socket bound to port 0 before ConnectEx is
    // picked at connect time and may be shared across destinations, like
    // Linux's IP_BIND_ADDRESS_NO_PORT. MinGW's headers lack the name; the
    // value is the Windows SDK's. Older systems (and Wine) refuse it, and
    // bind then reserves a port per socket, as it always did.
#ifndef SO_REUSE_UNICASTPORT
    constexpr int SO_REUSE_UNICASTPORT = 0x3007;
#endif
    DWORD one = 1;
    (void)::setsockopt(s, SOL_SOCKET, SO_REUSE_UNICASTPORT, reinterpret_cast<const char*>(&one),
                       sizeof one);
  }
  address_storage addr;
  to_sockaddr(from, addr);
  // The IOCP backend's start_connect binds to any:0 only when this has not
  // happened: its bind then fails with WSAEINVAL, which it takes as "bound".
  if (::bind(s, reinterpret_cast<const sockaddr*>(addr.bytes), static_cast<int>(addr.size)) != 0)
    return fail(last_error());
  return {};
}

result<net::endpoint> local_endpoint(native_socket h) noexcept {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (::getsockname(win::to_socket(h), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return fail(last_error());
  return from_sockaddr(&ss, static_cast<std::uint32_t>(len));
}

result<net::endpoint> peer_endpoint(native_socket h) noexcept {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (::getpeername(win::to_socket(h), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return fail(last_error());
  return from_sockaddr(&ss, static_cast<std::uint32_t>(len));
}

result<void> shutdown(native_socket h, net::basic_stream::shutdown_how how) noexcept {
  using enum net::basic_stream::shutdown_how;
  int native = how == send ? SD_SEND : how == receive ? SD_RECEIVE : SD_BOTH;
  if (::shutdown(win::to_socket(h), native) != 0) return fail(last_error());
  return {};
}

result<void> set_nodelay(native_socket h, bool on) noexcept {
  BOOL v = on ? TRUE : FALSE;
  if (::setsockopt(win::to_socket(h), IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&v),
                   sizeof v) != 0)
    return fail(last_error());
  return {};
}

result<void> set_cork(native_socket, bool) noexcept {
  return fail(std::errc::not_supported);
}

void abort_pending(native_socket h) noexcept {
  const SOCKET s = win::to_socket(h);
  // shutdown first: it sticks (a WSARecv or WSASend issued after it fails
  // at once with WSAESHUTDOWN), so an operation that starts between the two
  // calls cannot be missed by both. CancelIoEx with no OVERLAPPED cancels
  // everything pending on the handle, issued by any thread; each completes
  // through the port with ERROR_OPERATION_ABORTED. (A listener has nothing
  // to shut down: an AcceptEx issued after the cancel is not caught.)
  (void)::shutdown(s, SD_BOTH);
  (void)::CancelIoEx(reinterpret_cast<HANDLE>(s), nullptr);
}

namespace {
result<void> set_opt(native_socket h, int level, int name, const void* v, int size) noexcept {
  if (::setsockopt(win::to_socket(h), level, name, static_cast<const char*>(v), size) != 0)
    return fail(last_error());
  return {};
}
result<int> get_int(native_socket h, int level, int name) noexcept {
  int value = 0;
  int len = sizeof value;
  if (::getsockopt(win::to_socket(h), level, name, reinterpret_cast<char*>(&value), &len) != 0)
    return fail(last_error());
  return value;
}
// Milliseconds as SIO_KEEPALIVE_VALS takes them, or `fallback` for 0.
ULONG keepalive_ms(std::chrono::seconds s, ULONG fallback) noexcept {
  if (s.count() <= 0) return fallback;
  return static_cast<ULONG>(std::min<std::int64_t>(s.count(), 0x7fffffff / 1000) * 1000);
}
}  // namespace

result<void> set_keepalive(native_socket h, const net::keepalive_options& o) noexcept {
  const BOOL on = o.enabled ? TRUE : FALSE;
  if (auto ok = set_opt(h, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on); !ok || !o.enabled) return ok;
  if (o.idle.count() > 0 || o.interval.count() > 0) {
    // mstcpip.h's tcp_keepalive, spelled out: both timings at once, in ms;
    // Windows' defaults stand in for the one not given.
    struct {
      ULONG onoff;
      ULONG keepalivetime;
      ULONG keepaliveinterval;
    } vals{1, keepalive_ms(o.idle, 2 * 60 * 60 * 1000), keepalive_ms(o.interval, 1000)};
    constexpr DWORD sio_keepalive_vals = _WSAIOW(IOC_VENDOR, 4);  // SIO_KEEPALIVE_VALS
    DWORD bytes = 0;
    if (::WSAIoctl(win::to_socket(h), sio_keepalive_vals, &vals, sizeof vals, nullptr, 0, &bytes,
                   nullptr, nullptr) != 0)
      return fail(last_error());
  }
  if (o.count > 0) {
    // Windows 10 1703+; MinGW's headers lack the name (the SDK's value).
#ifndef TCP_KEEPCNT
    constexpr int TCP_KEEPCNT = 16;
#endif
    const DWORD count = static_cast<DWORD>(o.count);
    if (auto ok = set_opt(h, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count); !ok) {
      // An older system (or Wine) that does not know the option.
      if (ok.error() == std::errc::no_protocol_option || ok.error() == std::errc::invalid_argument)
        return fail(std::errc::not_supported);
      return ok;
    }
  }
  return {};
}

result<void> set_linger(native_socket h, bool on, int seconds) noexcept {
  linger l{};
  l.l_onoff = on ? 1 : 0;
  l.l_linger = static_cast<u_short>(on ? std::clamp(seconds, 0, 0xffff) : 0);
  return set_opt(h, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

result<void> set_buffer_size(native_socket h, bool send, std::size_t bytes) noexcept {
  const int v = static_cast<int>(std::min<std::size_t>(bytes, 0x7fffffff));
  return set_opt(h, SOL_SOCKET, send ? SO_SNDBUF : SO_RCVBUF, &v, sizeof v);
}

result<std::size_t> buffer_size(native_socket h, bool send) noexcept {
  auto v = get_int(h, SOL_SOCKET, send ? SO_SNDBUF : SO_RCVBUF);
  if (!v) return fail(v.error());
  return static_cast<std::size_t>(*v);
}

result<void> take_foreign(native_socket h, bool listening) noexcept {
  if (auto ws = win::winsock(); !ws) return fail(ws.error());
  auto type = get_int(h, SOL_SOCKET, SO_TYPE);
  if (!type) return fail(type.error());  // WSAENOTSOCK
  if (*type != SOCK_STREAM) return fail(std::errc::invalid_argument);
  auto accepting = get_int(h, SOL_SOCKET, SO_ACCEPTCONN);
  if (!accepting) return fail(accepting.error());
  if ((*accepting != 0) != listening) return fail(std::errc::invalid_argument);
  win::open_sockets.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void disown_handle(native_socket) noexcept {
  win::open_sockets.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace sys

// See winsock.hpp for the two kinds of negative result on Windows.
std::error_code error_from_result(std::int64_t res) noexcept {
  const std::int64_t e = -res;
  if (e >= win::win32_tag) return win::win32_error(static_cast<DWORD>(e - win::win32_tag));
  return {static_cast<int>(e), std::generic_category()};
}

}  // namespace corio::detail
