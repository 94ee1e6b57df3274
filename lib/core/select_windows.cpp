// lib/core/select_windows.cpp: which backend a Windows runtime uses.
// There is one: IOCP. Asking for io_uring or epoll, in runtime_options or
// in CORIO_BACKEND, is an error, as asking for IOCP is on Linux.
#include "sys/win/winsock.hpp"
// winsock.hpp first: it includes <winsock2.h> before <windows.h>.

#include <string>

#include "core/runtime_impl.hpp"

namespace corio::detail {

namespace {
// CORIO_BACKEND, or "" when unset. GetEnvironmentVariableA rather than
// std::getenv, which MSVC flags as unsafe.
std::string backend_from_environment() {
  char buf[64];
  const DWORD n = ::GetEnvironmentVariableA("CORIO_BACKEND", buf, sizeof buf);
  if (n == 0) return {};
  if (n >= sizeof buf) return "?";  // too long for any backend name: parse_backend_kind refuses it
  return std::string(buf, n);
}
}  // namespace

result<backend_set> choose_backends(const runtime_options& options, unsigned threads,
                                    backend_kind& chosen) {
  backend_kind want = options.backend;
  if (want == backend_kind::automatic) {
    if (const std::string env = backend_from_environment(); !env.empty()) {
      auto parsed = parse_backend_kind(env);
      if (!parsed) return fail(parsed.error());
      want = *parsed;
    }
  }
  switch (want) {
    case backend_kind::io_uring:
    case backend_kind::epoll:
      return fail(std::errc::function_not_supported);
    case backend_kind::automatic:
    case backend_kind::iocp:
      break;
  }
  chosen = backend_kind::iocp;
  return make_iocp_backends(threads);
}

}  // namespace corio::detail
