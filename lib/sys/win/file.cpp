// lib/sys/win/file.cpp: the synchronous file calls of fs::file on Windows
// (CloseHandle, GetFileInformationByHandle) and the blocking open.
#include "sys/win/winsock.hpp"
// winsock.hpp first: it includes <winsock2.h> before <windows.h>.

#include <cerrno>
#include <string>

#include "corio/fs/file.hpp"
#include "sys/file.hpp"

namespace corio {

namespace detail {

namespace {

// UTF-8 to UTF-16 (the W functions); empty when `s` is not valid UTF-8.
std::wstring widen(const char* s) {
  const int n = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, nullptr, 0);
  if (n <= 0) return {};
  std::wstring w(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w.data(), n);
  w.resize(static_cast<std::size_t>(n - 1));
  return w;
}

// What GetFileInformationByHandle said of `h`, as fs::file_info.
fs::file_info info_of(HANDLE h, const BY_HANDLE_FILE_INFORMATION& st) noexcept {
  fs::file_info out;
  out.size = (static_cast<std::uint64_t>(st.nFileSizeHigh) << 32) | st.nFileSizeLow;
  // FILETIME: 100 ns ticks since 1601-01-01; the Unix epoch is 11644473600 s later.
  const std::uint64_t ticks =
      (static_cast<std::uint64_t>(st.ftLastWriteTime.dwHighDateTime) << 32) | st.ftLastWriteTime.dwLowDateTime;
  const auto since_1601 = std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>(static_cast<std::int64_t>(ticks));
  out.modified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(since_1601 - std::chrono::seconds(11'644'473'600)));
  out.directory = (st.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
  out.regular = !out.directory && ::GetFileType(h) == FILE_TYPE_DISK;
  return out;
}

}  // namespace

std::int64_t open_file_blocking(const char* path, std::uint32_t flags) noexcept {
  std::wstring wide;
  try {
    wide = widen(path);
  } catch (...) {
    return win::res_from_errc(std::errc::not_enough_memory);
  }
  if (wide.empty()) return win::res_from_errc(std::errc::invalid_argument);
  DWORD access = 0;
  if (flags & file_flag::read) access |= GENERIC_READ;
  // FILE_APPEND_DATA without FILE_WRITE_DATA: every write goes to the end,
  // whatever its offset (the POSIX O_APPEND behaviour).
  if (flags & file_flag::write)
    access |= (flags & file_flag::append) ? (FILE_APPEND_DATA | SYNCHRONIZE) : GENERIC_WRITE;
  DWORD disposition = OPEN_EXISTING;
  const bool create = flags & file_flag::create, truncate = flags & file_flag::truncate;
  if (create && (flags & file_flag::exclusive)) {
    disposition = CREATE_NEW;
  } else if (create) {
    disposition = truncate ? CREATE_ALWAYS : OPEN_ALWAYS;
  } else if (truncate) {
    disposition = TRUNCATE_EXISTING;
  }
  // FILE_SHARE_DELETE: the file can be removed or renamed while open, as
  // on POSIX; FILE_FLAG_OVERLAPPED: reads and writes go through the port.
  HANDLE h = ::CreateFileW(wide.c_str(), access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           nullptr, disposition, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD e = ::GetLastError();
    // A directory cannot be opened without FILE_FLAG_BACKUP_SEMANTICS: the
    // error is ERROR_ACCESS_DENIED, which would say the wrong thing.
    if (e == ERROR_ACCESS_DENIED) {
      const DWORD attrs = ::GetFileAttributesW(wide.c_str());
      if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY))
        return win::res_from_errc(std::errc::is_a_directory);
    }
    return win::res_from_win32(e);
  }
  return static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(h));
}

std::int64_t close_file(native_file h) noexcept {
  if (!::CloseHandle(reinterpret_cast<HANDLE>(h))) return win::res_from_win32(::GetLastError());
  return 0;
}

std::int64_t check_opened_file(native_file h, fs::file_info& at_open) noexcept {
  const HANDLE handle = reinterpret_cast<HANDLE>(h);
  BY_HANDLE_FILE_INFORMATION info{};
  if (!::GetFileInformationByHandle(handle, &info)) {
    const DWORD e = ::GetLastError();
    ::CloseHandle(handle);
    return win::res_from_win32(e);
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
    ::CloseHandle(handle);
    return win::res_from_errc(std::errc::is_a_directory);
  }
  at_open = info_of(handle, info);
  return 0;
}

}  // namespace detail

namespace fs {

result<file_info> file::info() const noexcept {
  if (!is_open()) return fail(errc::not_open);
  const HANDLE handle = reinterpret_cast<HANDLE>(handle_);
  BY_HANDLE_FILE_INFORMATION st{};
  if (!::GetFileInformationByHandle(handle, &st))
    return fail(corio::detail::win::win32_error(::GetLastError()));
  return corio::detail::info_of(handle, st);
}

}  // namespace fs

}  // namespace corio
