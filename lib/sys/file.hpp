// lib/sys/file.hpp: file helpers the backends share (lib/sys/<os>/file.cpp).
#pragma once

#include <cstdint>

#include "corio/detail/file_io.hpp"

namespace corio::detail {

#ifdef _WIN32
/// CreateFileW of `path` (UTF-8) for overlapped I/O with file_flag bits
/// `flags`: the handle (>= 0), or a negated error as error_from_result
/// takes. Blocks (the IOCP backend runs it on the blocking pool).
std::int64_t open_file_blocking(const char* path, std::uint32_t flags) noexcept;
#else
/// open(2) flags (O_CLOEXEC included) for file_flag bits.
int posix_open_flags(std::uint32_t flags) noexcept;
#endif

}  // namespace corio::detail
