// bench/send_file_bench.cpp: file-to-socket transfer through loopback to a
// draining client, by strategy, side by side in one run. For each strategy
// the same file (pattern bytes, in the page cache) is sent `--repeat` times
// on one connection; a plain thread drains it with blocking recv(). Prints
// GB/s and the server's CPU seconds per GiB (process CPU minus the
// client thread's own). Strategies:
//   corio-uring   fs::send_file on io_uring (POLLOUT poll + sendfile(2))
//   corio-epoll   fs::send_file on epoll (sendfile(2) on writability)
//   copy-uring    fs::send_file's copy loop (read_at + write_all, 64 KiB) on io_uring
//   copy-epoll    the same on epoll (reads on the blocking pool)
//   raw-splice    io_uring splice file->pipe->socket, 1 MiB pipe, one thread, no corio
//   raw-sendfile  blocking sendfile(2) on a blocking socket in one thread
//                 (what "sendfile on the blocking pool" costs), no corio
// Usage: corio_send_file_bench [--mib 256] [--repeat 4] [--only NAME]
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "corio/corio.hpp"

namespace {

using clk = std::chrono::steady_clock;

double process_cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
double thread_cpu() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Connects to 127.0.0.1:port and reads `total` bytes; records its own CPU.
void drain(std::uint16_t port, std::uint64_t total, double* cpu, std::uint64_t* got) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) std::abort();
  std::vector<char> buf(1 << 20);
  std::uint64_t n = 0;
  while (n < total) {
    const ssize_t r = ::recv(s, buf.data(), buf.size(), 0);
    if (r <= 0) break;
    n += static_cast<std::uint64_t>(r);
  }
  *got = n;
  *cpu = thread_cpu();
  ::close(s);
}

// A stream that is not tcp_stream: send_file takes its copy loop.
struct plain_stream {
  corio::net::tcp_stream* s;
  auto write_all(std::span<const std::byte> b) { return s->write_all(b); }
};

struct outcome {
  double seconds = 0, server_cpu = 0;
  std::uint64_t bytes = 0;
};

outcome run_corio(corio::backend_kind kind, bool zero_copy, const std::string& path,
                  std::uint64_t size, int repeat) {
  corio::runtime_options o;
  o.threads = 1;
  o.backend = kind;
  auto rt = corio::runtime::create(o);
  if (!rt) std::abort();
  auto listener = corio::net::tcp_listener::bind(*corio::net::endpoint::parse("127.0.0.1:0"));
  if (!listener) std::abort();
  const std::uint16_t port = listener->local_endpoint()->port();
  const std::uint64_t total = size * static_cast<std::uint64_t>(repeat);
  double client_cpu = 0;
  std::uint64_t got = 0;
  const double cpu0 = process_cpu();
  const auto t0 = clk::now();
  std::thread client(drain, port, total, &client_cpu, &got);
  rt->block_on([](corio::net::tcp_listener& l, bool zc, std::string file_path, std::uint64_t bytes,
                  int times) -> corio::task<void> {
    auto conn = co_await l.accept();
    if (!conn) std::abort();
    auto f = co_await corio::fs::file::open(file_path, corio::fs::open_flags::read);
    if (!f) std::abort();
    for (int i = 0; i < times; ++i) {
      corio::result<std::uint64_t> r;
      if (zc) {
        r = co_await corio::fs::send_file(*conn, *f, 0, bytes);
      } else {
        plain_stream p{&*conn};
        r = co_await corio::fs::send_file(p, *f, 0, bytes);
      }
      if (!r) {
        std::fprintf(stderr, "send_file: %s\n", r.error().message().c_str());
        std::abort();
      }
    }
  }(*listener, zero_copy, path, size, repeat));
  client.join();
  outcome out;
  out.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  out.server_cpu = process_cpu() - cpu0 - client_cpu;
  out.bytes = got;
  return out;
}

// The raw strategies: a listener, one accepted blocking socket, this thread.
template <class Send>
outcome run_raw(const std::string& path, std::uint64_t size, int repeat, Send send) {
  int l = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(l, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(l, 1) != 0) std::abort();
  socklen_t len = sizeof at;
  ::getsockname(l, reinterpret_cast<sockaddr*>(&at), &len);
  const std::uint64_t total = size * static_cast<std::uint64_t>(repeat);
  double client_cpu = 0;
  std::uint64_t got = 0;
  const double cpu0 = process_cpu();
  const auto t0 = clk::now();
  std::thread client(drain, ntohs(at.sin_port), total, &client_cpu, &got);
  int s = ::accept(l, nullptr, nullptr);
  int fd = ::open(path.c_str(), O_RDONLY);
  for (int i = 0; i < repeat; ++i) send(s, fd, size);
  ::close(s);
  client.join();
  outcome out;
  out.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  out.server_cpu = process_cpu() - cpu0 - client_cpu;
  out.bytes = got;
  ::close(fd);
  ::close(l);
  return out;
}

void raw_sendfile(int s, int fd, std::uint64_t size) {
  off_t off = 0;
  while (static_cast<std::uint64_t>(off) < size) {
    const ssize_t n = ::sendfile(s, fd, &off, size - static_cast<std::uint64_t>(off));
    if (n <= 0) std::abort();
  }
}

void raw_splice(int s, int fd, std::uint64_t size) {
  static io_uring ring;
  static bool ready = false;
  static int p[2];
  constexpr unsigned chunk = 1 << 20;
  if (!ready) {
    if (io_uring_queue_init(8, &ring, 0) != 0 || ::pipe2(p, O_CLOEXEC) != 0) std::abort();
    ::fcntl(p[1], F_SETPIPE_SZ, chunk);
    ready = true;
  }
  std::uint64_t off = 0;
  while (off < size) {
    const unsigned want = static_cast<unsigned>(std::min<std::uint64_t>(chunk, size - off));
    // file -> pipe, then pipe -> socket for what arrived.
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (!sqe) std::abort();
    io_uring_prep_splice(sqe, fd, static_cast<std::int64_t>(off), p[1], -1, want, 0);
    io_uring_submit(&ring);
    io_uring_cqe* cqe;
    io_uring_wait_cqe(&ring, &cqe);
    const int in = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (in <= 0) std::abort();
    int left = in;
    while (left > 0) {
      sqe = io_uring_get_sqe(&ring);
      if (!sqe) std::abort();
      io_uring_prep_splice(sqe, p[0], -1, s, -1, static_cast<unsigned>(left), 0);
      io_uring_submit(&ring);
      io_uring_wait_cqe(&ring, &cqe);
      const int out = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
      if (out <= 0) std::abort();
      left -= out;
    }
    off += static_cast<std::uint64_t>(in);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t mib = 256;
  int repeat = 4;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--mib") mib = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--repeat") repeat = std::atoi(argv[i + 1]);
    else if (a == "--only") only = argv[i + 1];
  }
  const std::uint64_t size = mib << 20;
  const std::string path = (std::filesystem::temp_directory_path() / "corio-send-file-bench.bin").string();
  {
    std::vector<char> block(1 << 20);
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 131 + (i >> 9));
    FILE* f = std::fopen(path.c_str(), "wb");
    for (std::uint64_t at = 0; at < size; at += block.size()) std::fwrite(block.data(), 1, block.size(), f);
    std::fclose(f);
  }
  std::printf("%-13s %8s %8s %14s\n", "strategy", "GiB", "GB/s", "server CPU s/GiB");
  auto report = [&](const char* name, const outcome& o) {
    const double gib = static_cast<double>(o.bytes) / (1ull << 30);
    std::printf("%-13s %8.2f %8.2f %14.3f\n", name, gib, static_cast<double>(o.bytes) / o.seconds / 1e9,
                o.server_cpu / gib);
    std::fflush(stdout);
  };
  using corio::backend_kind;
  auto want = [&](const char* n) { return only.empty() || only == n; };
  if (want("corio-uring")) report("corio-uring", run_corio(backend_kind::io_uring, true, path, size, repeat));
  if (want("corio-epoll")) report("corio-epoll", run_corio(backend_kind::epoll, true, path, size, repeat));
  if (want("copy-uring")) report("copy-uring", run_corio(backend_kind::io_uring, false, path, size, repeat));
  if (want("copy-epoll")) report("copy-epoll", run_corio(backend_kind::epoll, false, path, size, repeat));
  if (want("raw-splice")) report("raw-splice", run_raw(path, size, repeat, raw_splice));
  if (want("raw-sendfile")) report("raw-sendfile", run_raw(path, size, repeat, raw_sendfile));
  std::filesystem::remove(path);
  return 0;
}
