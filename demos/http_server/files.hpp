// demos/http_server/files.hpp: answering a file request from the document
// root through corio::fs (open, info_at_open, read_at) and fs::send_file.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

#include "corio/fs/file.hpp"
#include "corio/fs/send_file.hpp"
#include "http_server/server.hpp"

namespace http_server {

namespace detail {

// The file's name: root + path, with index.html for a directory's path
// ("/docs/"). False when it does not fit.
bool file_name(const config& cfg, std::string_view path, std::span<char> out,
               std::size_t& length) noexcept;

// The head of a 200/206 answer for a file of `size` bytes.
bool append_file_head(out_buffer& out, int status, std::string_view name, std::uint64_t size,
                      std::uint64_t first, std::uint64_t count, std::time_t modified,
                      bool keep_alive, int version_minor) noexcept;
// 304 (with Last-Modified), 301 to `path` + "/", 416 with the size.
void append_not_modified(out_buffer& out, std::time_t modified, bool keep_alive,
                         int version_minor) noexcept;
std::uint64_t append_redirect(out_buffer& out, std::string_view path, bool head_only,
                              bool keep_alive, int version_minor) noexcept;
std::uint64_t append_unsatisfiable(out_buffer& out, std::uint64_t size, bool head_only,
                                   bool keep_alive, int version_minor) noexcept;

// Corks a TCP stream for its lifetime, as nginx's `tcp_nopush`: the head
// in `out` and the file send_file pushes after it leave in full segments,
// and the uncork sends the rest at once. On loopback this also has the
// kernel deliver the bytes in the server's own call rather than in the
// client's acknowledgements (1 MiB: about twice the requests/s, half the
// client's CPU per request; docs/performance.md). Streams without a cork
// (TLS, Unix sockets, Windows) go as they are.
template <class Stream>
class cork {
 public:
  explicit cork(Stream& s) noexcept : s_(s) {
    if constexpr (can_cork) (void)s_.set_cork(true);
  }
  ~cork() {
    if constexpr (can_cork) (void)s_.set_cork(false);
  }
  cork(const cork&) = delete;
  cork& operator=(const cork&) = delete;

 private:
  static constexpr bool can_cork = requires(Stream& s) { s.set_cork(true); };
  Stream& s_;
};

}  // namespace detail

/// Answers a GET or HEAD of `path` (decoded, starting with '/') under
/// cfg.root: 200 with the file, 206 for a satisfiable single byte range,
/// 416 for one past the end, 304 when If-Modified-Since is not older than
/// the file, 301 from "/dir" to "/dir/", index.html for "/dir/", 404 for
/// what is missing (no directory listings), 403 for what may not be read
/// or is not a regular file. The head goes into `out`. A body that fits in
/// `out` is read into it, to leave in one write with the head; a larger one
/// goes out with fs::send_file after `out` is flushed. `name` is scratch
/// for the file's full name. Fails only when the connection broke.
template <class Stream>
corio::task<corio::result<file_answer>> serve_file(Stream& s, out_buffer& out,
                                                   const http::message& m, const config& cfg,
                                                   std::string_view path, std::span<char> name,
                                                   const std::stop_token& stop) {
  const bool head_only = m.verb == http::method::head;
  const bool keep = m.keep_alive;
  const int minor = m.version_minor;
  file_answer a;
  const auto simple = [&](int status, std::string_view why) {
    a.status = status;
    a.body = append_simple(out, status, why, head_only, keep, minor);
    return a;
  };
  std::size_t name_len = 0;
  if (!detail::file_name(cfg, path, name, name_len)) co_return simple(414, "path too long");
  const std::string_view full(name.data(), name_len);
  auto f = co_await corio::with_stop(corio::fs::file::open(full, corio::fs::open_flags::read), stop);
  if (!f) {
    const auto e = f.error();
    if (e == std::errc::operation_canceled) co_return corio::fail(e);
    if (e == std::errc::is_a_directory) {
      if (path.back() == '/') co_return simple(404, "not found");  // index.html is a directory
      a.status = 301;
      a.body = detail::append_redirect(out, path, head_only, keep, minor);
      co_return a;
    }
    if (e == std::errc::no_such_file_or_directory || e == std::errc::not_a_directory ||
        e == std::errc::filename_too_long)
      co_return simple(404, path.back() == '/' ? "not found (no index.html; listings are off)"
                                               : "not found");
    if (e == std::errc::permission_denied) co_return simple(403, "forbidden");
    co_return simple(500, "cannot open the file");
  }
  // What open saw (it refuses directories): no second fstat per request.
  const corio::fs::file_info& info = f->info_at_open();
  if (!info.regular) co_return simple(403, "not a regular file");
  const std::time_t modified = static_cast<std::time_t>(
      std::chrono::duration_cast<std::chrono::seconds>(info.modified.time_since_epoch()).count());
  const std::uint64_t size = info.size;
  if (!m.if_modified_since.empty()) {
    const auto since = http::parse_date(m.if_modified_since);
    if (since && modified <= *since) {
      a.status = 304;
      detail::append_not_modified(out, modified, keep, minor);
      co_return a;
    }
  }
  std::uint64_t first = 0, count = size;
  a.status = 200;
  if (!m.range.empty()) {
    const auto r = http::parse_range(m.range, size);
    if (r.k == http::byte_range::kind::unsatisfiable) {
      a.status = 416;
      a.body = detail::append_unsatisfiable(out, size, head_only, keep, minor);
      co_return a;
    }
    if (r.k == http::byte_range::kind::satisfiable) {
      a.status = 206;
      first = r.first;
      count = r.last - r.first + 1;
    }
  }
  if (out.room() < 1024) {
    if (auto sent = co_await detail::flush(s, out, stop); !sent) co_return corio::fail(sent.error());
  }
  if (!detail::append_file_head(out, a.status, full, size, first, count, modified, keep, minor))
    co_return simple(500, "answer head too large");
  if (head_only) co_return a;
  a.body = count;
  if (count <= out.room()) {
    // Small: read into the answer buffer, behind the head, for one write.
    std::uint64_t done = 0;
    while (done < count) {
      const auto spare = out.spare().first(static_cast<std::size_t>(count - done));
      auto n = co_await corio::with_stop(f->read_at(first + done, std::as_writable_bytes(spare)), stop);
      if (!n) co_return corio::fail(n.error());
      if (*n == 0) co_return corio::fail(corio::errc::unexpected_eof);  // the file shrank
      out.commit(*n);
      done += *n;
    }
    co_return a;
  }
  detail::cork<Stream> corked(s);
  if (auto sent = co_await detail::flush(s, out, stop); !sent) co_return corio::fail(sent.error());
  // Zero-copy on TCP (sendfile, TransmitFile); a copy loop on other streams.
  // A file that shrank meanwhile ends it with unexpected_eof: the
  // Content-Length cannot be kept, so the connection closes.
  auto sent = co_await corio::with_stop(corio::fs::send_file(s, *f, first, count), stop);
  if (!sent) co_return corio::fail(sent.error());
  co_return a;
}

}  // namespace http_server
