// lib/fs/file.cpp: fs::file's portable part: checking open's arguments and
// turning the open operation's result into a file. The OS calls (close,
// info) are in lib/sys/<os>/file.cpp, the operations in each backend's
// file_ops.cpp.
#include "corio/fs/file.hpp"

#include "sys/file.hpp"

namespace corio::fs {

namespace detail {

namespace {

// Why `flags` cannot open anything, or nothing.
std::error_code check_flags(open_flags flags) noexcept {
  const auto bits = static_cast<unsigned>(flags);
  constexpr unsigned known = corio::detail::file_flag::read | corio::detail::file_flag::write |
                             corio::detail::file_flag::create | corio::detail::file_flag::truncate |
                             corio::detail::file_flag::exclusive | corio::detail::file_flag::append;
  const bool bad = (bits & ~known) != 0 || !has(flags, open_flags::read | open_flags::write) ||
                   (has(flags, open_flags::truncate) && !has(flags, open_flags::write)) ||
                   (has(flags, open_flags::append) && !has(flags, open_flags::write)) ||
                   (has(flags, open_flags::exclusive) && !has(flags, open_flags::create));
  return bad ? std::make_error_code(std::errc::invalid_argument) : std::error_code{};
}

}  // namespace

open_awaiter::open_awaiter(std::string_view path, open_flags flags, unsigned mode)
    : path_(path) {
  op_.code = corio::detail::op_code::file_open;
  req_.flags = static_cast<std::uint32_t>(flags);
  req_.mode = mode;
  refused_ = check_flags(flags);
  // A path with a NUL in it would open a shorter one; an empty one nothing.
  if (path.empty()) refused_ = std::make_error_code(std::errc::no_such_file_or_directory);
  if (path.find('\0') != std::string_view::npos) refused_ = std::make_error_code(std::errc::invalid_argument);
}

bool open_awaiter::start() noexcept {
  if (refused_) return false;
  // Set here: the awaiter may have moved since it was made.
  req_.path = path_.c_str();
  op_.args.file = &req_;
  return corio::detail::start(op_);
}

result<file> open_awaiter::await_resume() noexcept {
  if (refused_) return fail(refused_);
  if (op_.res < 0) return fail(corio::detail::error_from_result(op_.res));
  // Every backend completes an open with the new handle as its result.
  const auto h = static_cast<corio::detail::native_file>(op_.res);
  file_info at_open;
  if (auto r = corio::detail::check_opened_file(h, at_open); r < 0)
    return fail(corio::detail::error_from_result(r));
  return file(h, at_open);
}

}  // namespace detail

result<void> file::close() noexcept {
  if (handle_ == corio::detail::invalid_file) return fail(errc::not_open);
  const auto h = handle_;
  handle_ = corio::detail::invalid_file;
  if (auto r = corio::detail::close_file(h); r < 0) return fail(corio::detail::error_from_result(r));
  return {};
}

}  // namespace corio::fs
