// demos/http_server/server.cpp: routing, the answers that need no file, the
// access log and the accept loop.
#include "http_server/server.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <charconv>
#include <utility>

#include "corio/scope.hpp"
#include "corio/time.hpp"
#include "corio/tls/stream.hpp"
#include "corio/when.hpp"
#include "http_server/files.hpp"

namespace http_server {

bool out_buffer::append_number(std::uint64_t v) noexcept {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, v);
  return append(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
}

namespace {

// An absolute-form target names this server when its authority is one of
// our names with our port: then its path is served like an origin-form one.
// Anything else is a request to a proxy, which this server is not.
bool own_authority(std::string_view authority, const config& cfg) noexcept {
  std::string_view host = authority;
  std::uint64_t port = 80;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view after = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!after.empty() && (after.front() != ':' || !http::parse_decimal(after.substr(1), port)))
      return false;
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    if (!http::parse_decimal(host.substr(colon + 1), port)) return false;
    host = host.substr(0, colon);
  }
  if (port != cfg.port) return false;
  const bool ours = http::iequals(host, "localhost") || host == "127.0.0.1" || host == "[::1]" ||
                    http::iequals(host, cfg.host) ||
                    (host.size() > 2 && host.substr(1, host.size() - 2) == cfg.host);
  return ours;
}

}  // namespace

route decide(const http::message& m, const config& cfg, std::span<char> path) noexcept {
  route r;
  const auto refuse = [&](int status, std::string_view why, bool close) {
    r.k = route::kind::refuse;
    r.status = status;
    r.why = why;
    r.close = close;
    return r;
  };
  // The framing first: what cannot be skipped safely ends the connection.
  if (m.has_transfer_encoding)
    return refuse(501, "request bodies with Transfer-Encoding are not supported", true);
  if (m.content_length > cfg.max_body) return refuse(413, "request body too large", true);
  if (m.verb != http::method::get && m.verb != http::method::head) {
    if (m.verb == http::method::other) return refuse(501, "method not implemented", false);
    return refuse(405, "method not allowed: this server answers GET and HEAD", false);
  }
  std::string_view target = m.target;
  if (!target.empty() && target.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): http://authority/path.
    if (target.size() > 7 && http::iequals(target.substr(0, 7), "http://")) {
      const std::string_view rest = target.substr(7);
      const std::size_t slash = rest.find_first_of("/?");
      if (!own_authority(rest.substr(0, slash), cfg))
        return refuse(400, "absolute-form target for another host: this server is not a proxy",
                      true);
      target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
      if (target.front() != '/') return refuse(400, "the request target must start with /", true);
    } else {
      return refuse(400, "the request target must start with / (or be http://this-host/...)",
                    true);
    }
  }
  std::size_t len = 0;
  if (const auto e = http::decode_path(target, path, len); e != http::path_error::none)
    return refuse(e == http::path_error::too_long ? 414 : 400, http::describe(e), false);
  const std::string_view p(path.data(), len);
  if (p == "/hello") {
    r.k = route::kind::hello;
    return r;
  }
  if (cfg.root.empty()) return refuse(404, "not found", false);
  r.k = route::kind::file;
  r.path_len = len;
  return r;
}

namespace {

// The fields every answer starts with.
bool append_status_and_date(out_buffer& out, int status, int version_minor) noexcept {
  bool ok = out.append(version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  ok = ok && out.append_number(static_cast<std::uint64_t>(status)) && out.append(" ") &&
       out.append(http::reason_phrase(status)) && out.append("\r\nServer: corio\r\nDate: ") &&
       out.append(http::date_now()) && out.append("\r\n");
  return ok;
}

// The Connection field, where the version's default is not what happens.
bool append_connection(out_buffer& out, bool keep_alive, int version_minor) noexcept {
  if (!keep_alive) return out.append("Connection: close\r\n");
  if (version_minor == 0) return out.append("Connection: keep-alive\r\n");
  return true;
}

}  // namespace

std::uint64_t append_simple(out_buffer& out, int status, std::string_view why, bool head_only,
                            bool keep_alive, int version_minor) noexcept {
  const std::size_t mark = out.size();
  const bool no_body = status == 304 || (status >= 100 && status < 200);
  const std::uint64_t body = no_body ? 0 : why.size() + 1;
  bool ok = append_status_and_date(out, status, version_minor) &&
            append_connection(out, keep_alive, version_minor);
  if (status == 405) ok = ok && out.append("Allow: GET, HEAD\r\n");
  if (!no_body) {
    ok = ok && out.append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ") &&
         out.append_number(body) && out.append("\r\n");
  }
  ok = ok && out.append("\r\n");
  if (!no_body && !head_only) ok = ok && out.append(why) && out.append("\n");
  if (!ok) out.truncate(mark);
  return ok && !head_only ? body : 0;
}

std::uint64_t append_hello(out_buffer& out, bool head_only, bool keep_alive,
                           int version_minor) noexcept {
  const std::size_t mark = out.size();
  bool ok = append_status_and_date(out, 200, version_minor) &&
            append_connection(out, keep_alive, version_minor) &&
            out.append("Content-Type: text/plain\r\nContent-Length: ") &&
            out.append_number(hello_body.size()) && out.append("\r\n\r\n");
  if (!head_only) ok = ok && out.append(hello_body);
  if (!ok) out.truncate(mark);
  return ok && !head_only ? hello_body.size() : 0;
}

void log_request(std::FILE* log, std::string_view peer, const http::message& m, int status,
                 std::uint64_t bytes) noexcept {
  if (log == nullptr) return;
  try {
    // A line on the stack (no allocation below 500 bytes), written with one
    // buffered fwrite: stdio's lock keeps lines whole across workers.
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "{} [{}] \"{} {} HTTP/1.{}\" {} {}\n", peer,
                   http::date_now(), m.method_name, m.target.substr(0, 1024), m.version_minor,
                   status, bytes);
    std::fwrite(line.data(), 1, line.size(), log);
  } catch (...) {
  }
}

void log_refused(std::FILE* log, std::string_view peer, int status) noexcept {
  if (log == nullptr) return;
  try {
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "{} [{}] \"-\" {} 0\n", peer, http::date_now(),
                   status);
    std::fwrite(line.data(), 1, line.size(), log);
  } catch (...) {
  }
}

namespace {

corio::task<void> connection(corio::net::tcp_stream conn, const config& cfg,
                             std::stop_token stop) {
  (void)conn.set_nodelay(true);
  std::string peer;
  if (cfg.log != nullptr) {
    auto at = conn.peer_endpoint();
    peer = at ? at->to_string() : "-";
  }
  if (cfg.tls == nullptr) {
    co_await serve_connection(conn, cfg, stop, peer);
    co_return;
  }
  auto tls = corio::tls::stream<>::server(*cfg.tls, std::move(conn));
  if (!tls) co_return;
  auto hs = co_await corio::with_stop(corio::with_timeout(tls->handshake(), cfg.header_timeout),
                                      stop);
  if (!hs) co_return;  // not TLS, a refused certificate, too slow: nothing to answer
  co_await serve_connection(*tls, cfg, stop, peer);
}

// After a failed accept: false when the listener is gone (stop accepting);
// on descriptor or memory exhaustion waits a little instead of spinning.
corio::task<bool> keep_accepting(std::error_code ec) {
  if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
      ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory) {
    co_await corio::sleep_for(std::chrono::milliseconds(100));
    co_return true;
  }
  if (ec == corio::errc::not_open || ec == std::errc::bad_file_descriptor ||
      ec == std::errc::operation_canceled || ec == std::errc::invalid_argument) {
    co_return false;
  }
  co_return true;
}

}  // namespace

corio::task<void> serve(corio::net::tcp_listener& listener, const config& cfg,
                        std::stop_token accepting, std::stop_token connections) {
  corio::scope children;
  std::stop_callback stop_all(connections, [&children] { children.request_stop(); });
  co_await corio::with_scope(children, [&](corio::scope& s) -> corio::task<void> {
    for (;;) {
      auto conn = co_await corio::with_stop(listener.accept(), accepting);
      if (!conn) {
        if (co_await keep_accepting(conn.error())) continue;
        break;
      }
      s.spawn(connection(std::move(*conn), cfg, s.token()));
    }
  });
}

}  // namespace http_server
