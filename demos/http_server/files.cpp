// demos/http_server/files.cpp: the heads of file answers.
#include "http_server/files.hpp"

#include <array>
#include <cstring>

namespace http_server::detail {

namespace {

bool append_common(out_buffer& out, int status, bool keep_alive, int version_minor) noexcept {
  bool ok = out.append(version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ") &&
            out.append_number(static_cast<std::uint64_t>(status)) && out.append(" ") &&
            out.append(http::reason_phrase(status)) && out.append("\r\nServer: corio\r\nDate: ") &&
            out.append(http::date_now()) && out.append("\r\n");
  if (!keep_alive) ok = ok && out.append("Connection: close\r\n");
  else if (version_minor == 0) ok = ok && out.append("Connection: keep-alive\r\n");
  return ok;
}

bool append_last_modified(out_buffer& out, std::time_t modified) noexcept {
  std::array<char, http::date_size> date;
  http::format_date(modified, std::span<char, http::date_size>(date));
  return out.append("Last-Modified: ") && out.append(std::string_view(date.data(), date.size())) &&
         out.append("\r\n");
}

}  // namespace

bool file_name(const config& cfg, std::string_view path, std::span<char> out,
               std::size_t& length) noexcept {
  const std::string_view index = path.back() == '/' ? "index.html" : "";
  const std::size_t n = cfg.root.size() + path.size() + index.size();
  if (n > out.size()) return false;
  std::memcpy(out.data(), cfg.root.data(), cfg.root.size());
  std::memcpy(out.data() + cfg.root.size(), path.data(), path.size());
  std::memcpy(out.data() + cfg.root.size() + path.size(), index.data(), index.size());
  length = n;
  return true;
}

bool append_file_head(out_buffer& out, int status, std::string_view name, std::uint64_t size,
                      std::uint64_t first, std::uint64_t count, std::time_t modified,
                      bool keep_alive, int version_minor) noexcept {
  const std::size_t mark = out.size();
  bool ok = append_common(out, status, keep_alive, version_minor) &&
            out.append("Content-Type: ") && out.append(http::media_type(name)) &&
            out.append("\r\nContent-Length: ") && out.append_number(count) &&
            out.append("\r\nAccept-Ranges: bytes\r\n") && append_last_modified(out, modified);
  if (status == 206) {
    ok = ok && out.append("Content-Range: bytes ") && out.append_number(first) &&
         out.append("-") && out.append_number(first + count - 1) && out.append("/") &&
         out.append_number(size) && out.append("\r\n");
  }
  ok = ok && out.append("\r\n");
  if (!ok) out.truncate(mark);
  return ok;
}

void append_not_modified(out_buffer& out, std::time_t modified, bool keep_alive,
                         int version_minor) noexcept {
  const std::size_t mark = out.size();
  if (!(append_common(out, 304, keep_alive, version_minor) &&
        append_last_modified(out, modified) && out.append("\r\n")))
    out.truncate(mark);
}

std::uint64_t append_redirect(out_buffer& out, std::string_view path, bool head_only,
                              bool keep_alive, int version_minor) noexcept {
  // The body says where, for clients that do not follow redirects.
  const std::size_t mark = out.size();
  const std::uint64_t body = path.size() + 2;  // path + "/\n"
  bool ok = append_common(out, 301, keep_alive, version_minor) && out.append("Location: ") &&
            out.append(path) && out.append("/\r\nContent-Type: text/plain; charset=utf-8\r\n") &&
            out.append("Content-Length: ") && out.append_number(body) && out.append("\r\n\r\n");
  if (!head_only) ok = ok && out.append(path) && out.append("/\n");
  if (!ok) {
    out.truncate(mark);
    return 0;
  }
  return head_only ? 0 : body;
}

std::uint64_t append_unsatisfiable(out_buffer& out, std::uint64_t size, bool head_only,
                                   bool keep_alive, int version_minor) noexcept {
  constexpr std::string_view why = "range not satisfiable\n";
  const std::size_t mark = out.size();
  bool ok = append_common(out, 416, keep_alive, version_minor) &&
            out.append("Content-Range: bytes */") && out.append_number(size) &&
            out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ") &&
            out.append_number(why.size()) && out.append("\r\n\r\n");
  if (!head_only) ok = ok && out.append(why);
  if (!ok) {
    out.truncate(mark);
    return 0;
  }
  return head_only ? 0 : why.size();
}

}  // namespace http_server::detail
