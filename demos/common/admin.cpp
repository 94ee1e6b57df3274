// demos/common/admin.cpp: the dump trigger (SIGUSR1, or a named event on
// Windows) and the admin HTTP listener (/metrics, /debug/tasks).
#include "common/admin.hpp"

#include <fmt/core.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <string>
#include <thread>

#include "common/host.hpp"
#include "corio/corio.hpp"

#if defined(_WIN32)
#include <windows.h>
#else
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#endif

namespace demo {

void add_admin_options(args& cli, admin_options& out) {
  cli.integer("admin-port", "P", out.port, std::uint16_t{0}, std::uint16_t{65535},
              "serve /metrics (Prometheus text) and /debug/tasks (the runtime's dump) over "
              "HTTP on this port; 0 picks a free one (printed at start)")
      .text("admin-host", "ADDR", out.host, "address of the admin listener")
      .flag("track", out.track,
            "list every operation in flight in the dump (on with --admin-port); without it "
            "the dump (SIGUSR1) shows the workers and the counters only")
      .integer("stall-ms", "MS", out.stall_ms, std::uint32_t{0}, std::uint32_t{3'600'000},
               "report on stderr a worker that has not returned to its loop for this long "
               "(a coroutine blocking it); 0 = off");
}

std::string dump_text(corio::runtime& rt) {
  const auto m = rt.metrics();
  const auto& t = m.total;
  std::int64_t in_flight = 0;
  for (auto n : t.in_flight) in_flight += n;
  std::string out = fmt::format(
      "corio dump: backend {}, {} workers; {} operations started ({} finished at once, {} "
      "completed later), {} in flight; {} bytes read, {} written; {} sockets open\n",
      m.backend, m.workers.size(), t.submissions, t.inline_completions, t.completions, in_flight,
      t.bytes_read, t.bytes_written, m.sockets_open);
  out += corio::format_dump(rt.dump());
  return out;
}

namespace {

using namespace std::chrono_literals;

// One admin request: "GET /path HTTP/1.x", headers ignored; one response,
// then the connection closes.
corio::task<void> answer(corio::runtime& rt, corio::net::tcp_stream conn, std::stop_token stop) {
  std::array<char, 8192> buf;
  std::size_t got = 0;
  std::string_view head;
  while (got < buf.size()) {
    auto n = co_await corio::with_stop(
        corio::with_timeout(conn.read(std::as_writable_bytes(std::span(buf).subspan(got))), 5s),
        stop);
    if (!n || *n == 0) co_return;
    got += *n;
    head = std::string_view(buf.data(), got);
    if (head.find("\r\n\r\n") != std::string_view::npos) break;
  }
  std::string status = "200 OK", type = "text/plain; charset=utf-8", body;
  const auto line = head.substr(0, head.find("\r\n"));
  const auto sp1 = line.find(' ');
  const auto sp2 = line.find(' ', sp1 == std::string_view::npos ? 0 : sp1 + 1);
  if (head.find("\r\n\r\n") == std::string_view::npos || sp1 == std::string_view::npos ||
      sp2 == std::string_view::npos) {
    status = "400 Bad Request";
    body = "bad request\n";
  } else if (line.substr(0, sp1) != "GET") {
    status = "405 Method Not Allowed";
    body = "GET only\n";
  } else {
    const auto path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (path == "/metrics") {
      type = "text/plain; version=0.0.4; charset=utf-8";
      body = corio::format_prometheus(rt.metrics());
    } else if (path == "/debug/tasks") {
      body = dump_text(rt);
    } else {
      status = "404 Not Found";
      body = "not found; try /metrics or /debug/tasks\n";
    }
  }
  const std::string response =
      fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                  status, type, body.size(), body);
  (void)co_await corio::with_stop(corio::with_timeout(conn.write_all(std::as_bytes(std::span(response))), 5s), stop);
}

corio::task<void> serve(corio::runtime& rt, corio::net::tcp_listener& listener,
                        std::stop_token stop) {
  corio::scope requests;
  std::stop_callback stop_all(stop, [&requests] { requests.request_stop(); });
  for (;;) {
    auto conn = co_await corio::with_stop(listener.accept(), stop);
    if (!conn) {
      // A connection that went away before it was taken: the next one.
      if (conn.error() == std::errc::connection_aborted) continue;
      break;  // stopped, or the listener failed
    }
    requests.spawn(answer(rt, std::move(*conn), requests.token()));
  }
  co_await requests.join();
}

}  // namespace

// ---- The dump trigger -----------------------------------------------------

class admin_endpoint {
 public:
  admin_endpoint(std::string name, corio::runtime& rt) : name_(std::move(name)), rt_(rt) {}
  ~admin_endpoint() {
    if (http_) {
      http_.cancel();
      (void)http_.wait();
    }
    stop_trigger();
  }

  bool listen(const admin_options& o) {
    auto at = listen_address(o.host, *o.port);
    if (!at) {
      fmt::print(stderr, "{}: --admin-host: '{}' is not an IPv4 or IPv6 address\n", name_, o.host);
      return false;
    }
    auto l = corio::net::tcp_listener::bind(*at);
    if (!l) {
      fmt::print(stderr, "{}: cannot listen on {} for admin: {}\n", name_, at->to_string(),
                 l.error().message());
      return false;
    }
    listener_ = std::move(*l);
    auto bound = listener_.local_endpoint();
    fmt::print("{} admin on http://{} (/metrics, /debug/tasks)\n", name_,
               bound ? bound->to_string() : at->to_string());
    std::fflush(stdout);
    http_ = rt_.spawn([this](std::stop_token stop) { return serve(rt_, listener_, stop); });
    return true;
  }

  // Starts the thread that prints the dump when asked (SIGUSR1, the event).
  bool start_trigger();

 private:
  void print_dump() {
    const std::string text = dump_text(rt_);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  }
  void stop_trigger();

  std::string name_;
  corio::runtime& rt_;
  corio::net::tcp_listener listener_;
  corio::join_handle<void> http_;
  std::thread trigger_;
#if defined(_WIN32)
  HANDLE event_ = nullptr;  // the named event the operator sets
  HANDLE quit_ = nullptr;
#endif
};

#if defined(_WIN32)

bool admin_endpoint::start_trigger() {
  const std::wstring event_name = L"Local\\corio-dump-" + std::to_wstring(::GetCurrentProcessId());
  event_ = ::CreateEventW(nullptr, FALSE, FALSE, event_name.c_str());
  quit_ = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (!event_ || !quit_) {
    fmt::print(stderr, "{}: cannot create the dump event: error {}\n", name_, ::GetLastError());
    return false;
  }
  trigger_ = std::thread([this] {
    HANDLE both[2] = {quit_, event_};
    while (::WaitForMultipleObjects(2, both, FALSE, INFINITE) == WAIT_OBJECT_0 + 1) print_dump();
  });
  return true;
}

void admin_endpoint::stop_trigger() {
  if (quit_) ::SetEvent(quit_);
  if (trigger_.joinable()) trigger_.join();
  if (event_) ::CloseHandle(event_);
  if (quit_) ::CloseHandle(quit_);
}

#else

namespace {
// The write end of the trigger's pipe, for the signal handler.
int trigger_fd = -1;

void on_sigusr1(int) {
  const int saved = errno;
  const char c = 'd';
  (void)!::write(trigger_fd, &c, 1);  // async-signal-safe; a full pipe drops the extra request
  errno = saved;
}
}  // namespace

bool admin_endpoint::start_trigger() {
  int fds[2];
  if (::pipe(fds) != 0) {
    fmt::print(stderr, "{}: cannot set up the SIGUSR1 dump: {}\n", name_, std::strerror(errno));
    return false;
  }
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
  trigger_fd = fds[1];
  trigger_ = std::thread([this, in = fds[0]] {
    char c = 0;
    while (::read(in, &c, 1) == 1 || errno == EINTR) {
      if (c == 'q') break;
      if (c == 'd') print_dump();
      c = 0;
    }
    ::close(in);
  });
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &sa, nullptr);
  return true;
}

void admin_endpoint::stop_trigger() {
  if (!trigger_.joinable()) return;
  signal(SIGUSR1, SIG_IGN);
  const char c = 'q';
  (void)!::write(trigger_fd, &c, 1);
  trigger_.join();
  ::close(trigger_fd);
  trigger_fd = -1;
}

#endif

void admin_deleter::operator()(admin_endpoint* a) const noexcept { delete a; }

admin_handle start_admin(std::string_view name, corio::runtime& rt, const admin_options& options) {
  admin_handle a(new admin_endpoint(std::string(name), rt));
  if (!a->start_trigger()) return nullptr;
  if (options.port && !a->listen(options)) return nullptr;
  return a;
}

}  // namespace demo
