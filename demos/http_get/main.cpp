// demos/http_get/main.cpp: an HTTP/1.1 client that downloads URLs.
// Several URLs to one host share a keep-alive connection; bodies come by
// Content-Length, chunked, or until the server closes. A progress bar with
// rate and ETA is drawn on stderr when it is a terminal and the body is
// large. Redirects are not followed (the Location is printed). https://
// URLs go over corio::tls::stream, verifying the server's certificate and
// name against the system's roots (or --cacert).
//
//   http_get http://127.0.0.1:8080/big.bin -o big.bin
//   http_get http://localhost:8080/a http://localhost:8080/b   (one connection)
//   http_get https://localhost:8443/a --cacert ca.pem
#include <fmt/core.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/startup.hpp"
#include "corio/corio.hpp"
#include "corio/tls/stream.hpp"
#include "http/parser.hpp"
#include "http/util.hpp"

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace {

using namespace std::chrono_literals;

// Exit codes, by outcome (--help lists them). With several URLs the first
// failure decides; a failure of the connection or the response stops there.
enum exit_code : int {
  ok = 0,            // every URL answered 2xx, body complete
  local_error = 1,   // the output cannot be written, the runtime did not start
  usage = 2,         // bad arguments
  no_connection = 3, // name not resolved, connection refused or timed out
  bad_response = 4,  // malformed, truncated, or the connection broke mid-answer
  http_error = 5,    // a 4xx or 5xx answer (its body is still written)
  redirected = 6,    // a 3xx answer: redirects are not followed
};

constexpr std::string_view help_text =
    "usage: http_get URL... [-o FILE] [--timeout SECONDS] [--cacert FILE]\n"
    "                [--backend auto|uring|epoll|iocp]\n"
    "\n"
    "Downloads each URL (http:// or https://host[:port]/path) with HTTP/1.1 GET and writes the\n"
    "bodies, in order, to FILE (-o) or stdout. URLs to the same host in a row share\n"
    "one keep-alive connection. A progress bar (rate, ETA) is drawn on stderr for\n"
    "bodies over 1 MiB when stderr is a terminal. Redirects are not followed.\n"
    "\n"
    "  -o, --output FILE   write the bodies here instead of stdout\n"
    "  --timeout SECONDS   for connecting (and the TLS handshake) and for each read\n"
    "                      (default 30)\n"
    "  --cacert FILE       https: trust the certificates in FILE (PEM) besides the\n"
    "                      system's; the server's certificate and name are verified\n"
    "  --backend NAME      I/O backend (default auto)\n"
    "\n"
    "exit codes (several URLs: the first failure decides):\n"
    "  0  every answer was 2xx and complete\n"
    "  1  local error (the output cannot be written, the runtime cannot start)\n"
    "  2  bad arguments\n"
    "  3  no connection (name not resolved, refused, timed out, TLS handshake or\n"
    "     certificate refused)\n"
    "  4  bad response (malformed, truncated, connection lost)\n"
    "  5  an HTTP error status (4xx, 5xx); its body is written\n"
    "  6  a redirect (3xx), not followed; its Location is printed\n";

struct options {
  std::vector<std::string> urls;
  std::string output;
  std::chrono::milliseconds timeout{30'000};
  corio::backend_kind backend = corio::backend_kind::automatic;
  std::string cacert;
};

bool stderr_is_terminal() {
#if defined(_WIN32)
  return _isatty(_fileno(stderr)) != 0;
#else
  return isatty(fileno(stderr)) != 0;
#endif
}

// The progress bar: at most ten redraws a second, only on a terminal and
// only for bodies of at least 1 MiB (or of unknown size past 1 MiB).
class progress {
 public:
  progress(bool terminal, std::optional<std::uint64_t> total) noexcept
      : on_(terminal && (!total || *total >= (1u << 20))), total_(total),
        start_(std::chrono::steady_clock::now()) {}
  void add(std::uint64_t n) {
    done_ += n;
    if (!on_ || (!total_ && done_ < (1u << 20))) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < 100ms) return;
    last_ = now;
    draw(now);
  }
  void finish() {
    if (!on_ || (!total_ && done_ < (1u << 20))) return;
    draw(std::chrono::steady_clock::now());
    fmt::print(stderr, "\n");
  }

 private:
  void draw(std::chrono::steady_clock::time_point now) {
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
    if (total_) {
      const double frac = *total_ ? static_cast<double>(done_) / static_cast<double>(*total_) : 1;
      const int filled = static_cast<int>(frac * 30);
      const double eta = rate > 0 ? static_cast<double>(*total_ - done_) / rate : 0;
      fmt::print(stderr, "\r[{:<30}] {:5.1f}% {:8.1f} MiB/s  ETA {:4.0f} s ",
                 std::string(static_cast<std::size_t>(filled), '#'), frac * 100, rate / 1048576, eta);
    } else {
      fmt::print(stderr, "\r{:10.1f} MiB  {:8.1f} MiB/s ", static_cast<double>(done_) / 1048576,
                 rate / 1048576);
    }
  }

  bool on_;
  std::optional<std::uint64_t> total_;
  std::uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_{};
};

// One connection's read side: a buffer whose bytes after a response stay
// for the next one on the same connection.
struct inbound {
  std::array<char, 64 * 1024> buf;
  std::size_t begin = 0, end = 0;
  std::string_view view() const noexcept { return {buf.data() + begin, end - begin}; }
  void consume(std::size_t n) noexcept {
    begin += n;
    if (begin == end) begin = end = 0;
  }
};

// Reads more into `in`; 0 at the end of the stream.
template <class Stream>
corio::task<corio::result<std::size_t>> fill(Stream& s, inbound& in,
                                             std::chrono::milliseconds timeout) {
  if (in.end == in.buf.size()) {
    if (in.begin == 0) co_return corio::fail(corio::errc::limit_exceeded);
    std::memmove(in.buf.data(), in.buf.data() + in.begin, in.end - in.begin);
    in.end -= in.begin;
    in.begin = 0;
  }
  auto n = co_await corio::with_timeout(s.read(std::span(in.buf).subspan(in.end)), timeout);
  if (n) in.end += *n;
  co_return n;
}

struct fetch_result {
  int code = ok;
  bool reusable = false;  // the connection may carry the next request
};

bool write_out(std::FILE* out, std::string_view data) {
  return data.empty() || std::fwrite(data.data(), 1, data.size(), out) == data.size();
}

// Sends one GET on `s` and writes the body to `out`.
template <class Stream>
corio::task<fetch_result> fetch(Stream& s, inbound& in, const http::url& u, bool last,
                                std::FILE* out, std::chrono::milliseconds timeout,
                                std::string_view url_text) {
  const std::string request =
      fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: corio-http_get\r\nAccept: */*\r\n{}\r\n",
                  u.target, u.authority, last ? "Connection: close\r\n" : "");
  if (!co_await corio::with_timeout(s.write_all(std::string_view(request)), timeout)) {
    fmt::print(stderr, "http_get: {}: the connection broke while sending\n", url_text);
    co_return fetch_result{bad_response, false};
  }
  http::head_parser p(http::head_parser::kind::response, {.request_line = 8192, .head = 64 * 1024, .fields = 64});
  for (;;) {
    const auto st = p.parse(in.view());
    if (st == http::parse_status::error) {
      fmt::print(stderr, "http_get: {}: malformed response ({})\n", url_text, p.error_reason());
      co_return fetch_result{bad_response, false};
    }
    if (st == http::parse_status::complete) {
      const auto& m = p.get(in.view());
      if (m.status >= 100 && m.status < 200) {  // 100 Continue and friends: skip
        in.consume(p.head_size());
        p.reset();
        continue;
      }
      break;
    }
    auto n = co_await fill(s, in, timeout);
    if (!n || *n == 0) {
      fmt::print(stderr, "http_get: {}: {}\n", url_text,
                 !n ? n.error().message() : std::string("the server closed before answering"));
      co_return fetch_result{bad_response, false};
    }
  }
  const http::message& m = p.get(in.view());
  const int status = m.status;
  const bool keep = m.keep_alive;
  const bool chunked = m.chunked;
  const bool sized = m.has_content_length;
  const std::uint64_t length = m.content_length;
  int code = ok;
  if (status >= 300 && status < 400) {
    fmt::print(stderr, "http_get: {}: {} {} -> {} (redirects are not followed)\n", url_text,
               status, m.reason, m.location);
    code = redirected;
  } else if (status >= 400) {
    fmt::print(stderr, "http_get: {}: {} {}\n", url_text, status, m.reason);
    code = http_error;
  }
  in.consume(p.head_size());
  const bool bodiless = status == 204 || status == 304;
  progress bar(stderr_is_terminal(), sized ? std::optional(length) : std::nullopt);
  const auto broken = [&](std::string_view why) {
    fmt::print(stderr, "http_get: {}: {}\n", url_text, why);
    return fetch_result{bad_response, false};
  };
  if (bodiless) co_return fetch_result{code, keep};
  if (chunked) {
    http::chunked_decoder d;
    for (;;) {
      while (!in.view().empty()) {
        const auto step = d.decode(in.view());
        if (!write_out(out, step.data)) co_return fetch_result{local_error, false};
        bar.add(step.data.size());
        in.consume(step.consumed);
        if (step.st == http::chunked_decoder::status::error)
          co_return broken("malformed chunked body");
        if (step.st == http::chunked_decoder::status::done) {
          bar.finish();
          co_return fetch_result{code, keep};
        }
      }
      auto n = co_await fill(s, in, timeout);
      if (!n || *n == 0) co_return broken("the connection ended inside the chunked body");
    }
  }
  if (sized) {
    std::uint64_t left = length;
    for (;;) {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(left, in.view().size()));
      if (!write_out(out, in.view().substr(0, take))) co_return fetch_result{local_error, false};
      bar.add(take);
      in.consume(take);
      left -= take;
      if (left == 0) break;
      auto n = co_await fill(s, in, timeout);
      if (!n || *n == 0)
        co_return broken(fmt::format("the connection ended {} bytes before the body's end", left));
    }
    bar.finish();
    co_return fetch_result{code, keep};
  }
  // Neither: the body runs until the server closes.
  for (;;) {
    if (!write_out(out, in.view())) co_return fetch_result{local_error, false};
    bar.add(in.view().size());
    in.consume(in.view().size());
    auto n = co_await fill(s, in, timeout);
    if (!n) co_return broken(n.error().message());
    if (*n == 0) break;
  }
  bar.finish();
  co_return fetch_result{code, false};
}

corio::task<int> run(const options& opt, std::FILE* out) {
  int first_failure = ok;
  const auto failed = [&](int code) {
    if (first_failure == ok) first_failure = code;
  };
  std::vector<http::url> urls;
  for (const auto& text : opt.urls) urls.push_back(*http::parse_url(text));  // checked in main
  inbound in;
  // One connection at a time: plain, or TLS over TCP for https://.
  std::optional<corio::net::tcp_stream> plain;
  std::optional<corio::tls::stream<>> secure;
  std::optional<corio::tls::context> tls;  // made at the first https:// URL
  std::string connected_to;  // the scheme and authority of the connection
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const auto& u = urls[i];
    const bool https = u.scheme == "https";
    const std::string key = std::string(u.scheme) + "://" + std::string(u.authority);
    const bool last_to_host = i + 1 == urls.size() || urls[i + 1].authority != u.authority ||
                              urls[i + 1].scheme != u.scheme;
    if ((!plain && !secure) || connected_to != key) {
      plain.reset();
      secure.reset();
      in.begin = in.end = 0;
      auto c = co_await corio::with_timeout(corio::net::tcp_stream::connect(u.host, u.port),
                                            opt.timeout);
      if (!c) {
        fmt::print(stderr, "http_get: {}: cannot connect to {}:{}: {}\n", opt.urls[i], u.host,
                   u.port, c.error().message());
        failed(no_connection);
        continue;
      }
      (void)c->set_nodelay(true);
      if (https) {
        if (!tls) {
          auto ctx = corio::tls::context::create(corio::tls::role::client);
          if (!ctx) {
            fmt::print(stderr, "http_get: TLS: {}\n", ctx.error().message());
            co_return local_error;
          }
          if (!opt.cacert.empty()) {
            if (auto r = ctx->trust_file(opt.cacert.c_str()); !r) {
              fmt::print(stderr, "http_get: --cacert {}: {}\n", opt.cacert, r.error().message());
              co_return local_error;
            }
          }
          const std::array<std::string_view, 1> alpn{"http/1.1"};
          (void)ctx->set_alpn(alpn);
          tls = std::move(*ctx);
        }
        auto s = corio::tls::stream<>::client(*tls, std::move(*c), u.host);
        if (!s) {
          fmt::print(stderr, "http_get: {}: TLS: {}\n", opt.urls[i], s.error().message());
          failed(no_connection);
          continue;
        }
        auto hs = co_await corio::with_timeout(s->handshake(), opt.timeout);
        if (!hs) {
          fmt::print(stderr, "http_get: {}: TLS handshake with {}:{}: {} ({})\n", opt.urls[i],
                     u.host, u.port, hs.error().message(), s->failure_detail());
          failed(no_connection);
          continue;
        }
        secure = std::move(*s);
      } else {
        plain = std::move(*c);
      }
      connected_to = key;
    }
    fetch_result r;
    if (secure) {
      r = co_await fetch(*secure, in, u, last_to_host, out, opt.timeout, opt.urls[i]);
    } else {
      r = co_await fetch(*plain, in, u, last_to_host, out, opt.timeout, opt.urls[i]);
    }
    if (r.code != ok) failed(r.code);
    if (r.code == local_error) break;
    if (!r.reusable) {
      plain.reset();
      secure.reset();
    }
  }
  co_return first_failure;
}

// Returns the exit code when the program should stop here.
std::optional<int> parse_args(int argc, char** argv, options& opt) {
  const auto bad = [](std::string_view why) {
    fmt::print(stderr, "http_get: {}\n{}", why, help_text.substr(0, help_text.find('\n') + 1));
    return std::optional<int>(usage);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      fmt::print("{}", help_text);
      return 0;
    } else if (a == "-o" || a == "--output") {
      const char* v = value();
      if (!v || !opt.output.empty()) return bad("-o needs a file name (once)");
      opt.output = v;
    } else if (a == "--timeout") {
      const char* v = value();
      char* end = nullptr;
      const double s = v ? std::strtod(v, &end) : 0;
      if (!v || *end != '\0' || !(s > 0 && s <= 86400)) return bad("--timeout needs seconds in (0, 86400]");
      opt.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
    } else if (a == "--cacert") {
      const char* v = value();
      if (!v || !opt.cacert.empty()) return bad("--cacert needs a file name (once)");
      opt.cacert = v;
    } else if (a == "--backend") {
      const char* v = value();
      auto k = corio::parse_backend_kind(v ? v : "");
      if (!k) return bad("--backend needs auto, uring, epoll or iocp");
      opt.backend = *k;
    } else if (a.starts_with("-")) {
      return bad(fmt::format("unknown option {}", a));
    } else {
      const auto u = http::parse_url(a);
      if (!u) return bad(fmt::format("not an http:// or https:// URL: {}", a));
      if (u->scheme != "http" && u->scheme != "https")
        return bad(fmt::format("{}: only http:// and https:// are supported", a));
      opt.urls.emplace_back(a);
    }
  }
  if (opt.urls.empty()) return bad("no URL given");
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (auto code = parse_args(argc, argv, opt)) return *code;
  std::FILE* out = stdout;
  if (!opt.output.empty()) {
    out = std::fopen(opt.output.c_str(), "wb");
    if (!out) {
      fmt::print(stderr, "http_get: -o {}: cannot open for writing\n", opt.output);
      return local_error;
    }
  }
  corio::runtime_options ro;
  ro.threads = 1;
  ro.backend = opt.backend;
  auto rt = demo::start_runtime("http_get", ro);
  if (!rt) return local_error;
  int code = rt->block_on(run(opt, out));
  if (std::fflush(out) != 0 || (out != stdout && std::fclose(out) != 0)) {
    fmt::print(stderr, "http_get: cannot write the output\n");
    code = code == ok ? local_error : code;
  }
  return code;
}
