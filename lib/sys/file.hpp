// lib/sys/file.hpp: file helpers the backends share (lib/sys/<os>/file.cpp).
#pragma once

#include <cstdint>

#include "corio/detail/file_io.hpp"
#include "corio/fs/file.hpp"

namespace corio::detail {

/// After a successful open: refuses what fs::file does not open (a
/// directory: std::errc::is_a_directory), closing it; else fills `at_open`
/// from the same call (fstat / GetFileInformationByHandle). Returns 0 or a
/// negated error.
std::int64_t check_opened_file(native_file h, fs::file_info& at_open) noexcept;

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
