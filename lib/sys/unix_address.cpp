// lib/sys/unix_address.cpp: a Unix-domain socket's name as a sockaddr_un,
// the same layout on Linux and Windows (afunix.h) but for abstract names,
// which Linux alone has.
#ifdef _WIN32
#include "sys/win/winsock.hpp"
// winsock.hpp first: it includes <winsock2.h> before <windows.h>.
#include <afunix.h>
#else
#include <sys/socket.h>
#include <sys/un.h>
#endif

#include <cstddef>
#include <cstring>

#include "sys/socket.hpp"

namespace corio::detail::sys {

result<void> unix_address(std::string_view name, address_storage& out) noexcept {
  static_assert(sizeof(sockaddr_un) <= sizeof out.bytes);
  if (name.empty()) return fail(std::errc::invalid_argument);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const bool abstract = name.front() == '@' || name.front() == '\0';
  std::size_t used;  // bytes of sun_path that the name takes
  if (abstract) {
#ifdef _WIN32
    return fail(std::errc::not_supported);
#else
    // A NUL, then the name's bytes as they are (NULs included); the
    // address's length, not a terminator, says where it ends.
    const std::string_view rest = name.substr(1);
    if (1 + rest.size() > sizeof sa.sun_path) return fail(std::errc::filename_too_long);
    sa.sun_path[0] = '\0';
    std::memcpy(sa.sun_path + 1, rest.data(), rest.size());
    used = 1 + rest.size();
#endif
  } else {
    if (name.find('\0') != std::string_view::npos) return fail(std::errc::invalid_argument);
    // The path and its terminating NUL.
    if (name.size() + 1 > sizeof sa.sun_path) return fail(std::errc::filename_too_long);
    std::memcpy(sa.sun_path, name.data(), name.size());
    used = name.size() + 1;
  }
  std::memset(out.bytes, 0, sizeof out.bytes);
  std::memcpy(out.bytes, &sa, sizeof sa);
  out.size = static_cast<std::uint32_t>(offsetof(sockaddr_un, sun_path) + used);
  return {};
}

}  // namespace corio::detail::sys
