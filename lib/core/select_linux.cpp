// lib/core/select_linux.cpp: which backend a Linux runtime uses.
#include <cstdlib>
#include <mutex>
#include <string>

#include "core/log.hpp"
#include "core/runtime_impl.hpp"

namespace corio::detail {

result<backend_set> choose_backends(const runtime_options& options, unsigned threads,
                                    backend_kind& chosen) {
  backend_kind want = options.backend;
  if (want == backend_kind::automatic) {
    if (const char* env = std::getenv("CORIO_BACKEND"); env && *env) {
      auto parsed = parse_backend_kind(env);
      if (!parsed) return fail(parsed.error());
      want = *parsed;
    }
  }
  switch (want) {
    case backend_kind::iocp: return fail(std::errc::function_not_supported);
    case backend_kind::io_uring: chosen = want; return make_uring_backends(threads);
    case backend_kind::epoll: chosen = want; return make_epoll_backends(threads);
    case backend_kind::automatic: break;
  }
  if (auto uring = make_uring_backends(threads)) {
    chosen = backend_kind::io_uring;
    return uring;
  } else {
    static std::once_flag logged;
    std::call_once(logged, [&] {
      log(log_level::info, "io_uring unavailable (" + uring.error().message() + "); using epoll");
    });
  }
  chosen = backend_kind::epoll;
  return make_epoll_backends(threads);
}

}  // namespace corio::detail
