// tests/support/loopback.cpp: the OS-specific test helpers.
#include "support/loopback.hpp"

#ifdef _WIN32
#include <winsock2.h>
#else
#include <sys/socket.h>
#endif

namespace corio::test {

void abort_connection(net::tcp_stream& s) {
  // Linger on, timeout 0: close() sends RST and drops unsent data.
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
#ifdef _WIN32
  ::setsockopt(static_cast<SOCKET>(s.native_handle()), SOL_SOCKET, SO_LINGER,
               reinterpret_cast<const char*>(&l), sizeof l);
#else
  ::setsockopt(static_cast<int>(s.native_handle()), SOL_SOCKET, SO_LINGER, &l, sizeof l);
#endif
  s.close();
}

}  // namespace corio::test
