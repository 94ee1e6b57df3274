// raw_udp_echo: a hand-written UDP echo server, the loop a competent
// engineer writes without tuning: one non-blocking socket per thread
// (SO_REUSEPORT when there are several), one epoll instance, and on each
// readiness event recvfrom until EAGAIN, answering each datagram with
// sendto at once. No recvmmsg/sendmmsg batching and no GSO/GRO: one system
// call per datagram each way, as corio's recv_from/send_to do. Benchmark
// baseline, not part of corio.
//
// The socket is edge-triggered for reading; a sendto that would block (the
// socket's send buffer is full, rare on loopback) drops the answer, as a
// UDP server may: the client counts it lost. Same command line as the other
// peers (peer_common.hpp), the port being a UDP one.

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "peer_common.hpp"

namespace {

constexpr std::size_t buffer_size = 65'536;  // any UDP datagram fits
constexpr int max_events = 8;

int open_udp(std::uint16_t& port, bool reuse_port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) peer::fail("socket", errno);
  int one = 1;
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    peer::fail("setsockopt(SO_REUSEPORT)", errno);
  int rcvbuf = 1 << 20;  // as udp_echo --server asks
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) peer::fail("bind", errno);
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    peer::fail("getsockname", errno);
  port = ntohs(addr.sin_port);
  return fd;
}

struct worker {
  int sock = -1;
  int wake = -1;  // eventfd the main thread writes to at shutdown
  int epoll_fd = -1;
  std::uint64_t echoed = 0;
};

void run(worker& w) {
  std::vector<char> buf(buffer_size);
  epoll_event events[max_events];
  for (;;) {
    int n = ::epoll_wait(w.epoll_fd, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      peer::fail("epoll_wait", errno);
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == w.wake) return;
      // Edge-triggered: drain the socket.
      for (;;) {
        sockaddr_storage from;
        socklen_t from_len = sizeof from;
        ssize_t got = ::recvfrom(w.sock, buf.data(), buf.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
        if (got < 0) {
          if (errno == EINTR) continue;
          break;  // EAGAIN: drained; anything else (an ICMP error) is about one datagram
        }
        if (::sendto(w.sock, buf.data(), static_cast<std::size_t>(got), MSG_NOSIGNAL,
                     reinterpret_cast<sockaddr*>(&from), from_len) >= 0)
          ++w.echoed;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const peer::options opts = peer::parse_args(argc, argv);
  const sigset_t stop_signals = peer::block_stop_signals();
  std::uint16_t port = opts.port;
  std::vector<worker> workers(opts.threads);
  for (auto& w : workers) {
    w.sock = open_udp(port, opts.threads > 1);  // the first picks the port, the others share it
    w.wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (w.wake < 0 || w.epoll_fd < 0) peer::fail("eventfd/epoll_create1", errno);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = w.sock;
    if (::epoll_ctl(w.epoll_fd, EPOLL_CTL_ADD, w.sock, &ev) != 0) peer::fail("epoll_ctl", errno);
    ev.events = EPOLLIN;
    ev.data.fd = w.wake;
    if (::epoll_ctl(w.epoll_fd, EPOLL_CTL_ADD, w.wake, &ev) != 0) peer::fail("epoll_ctl", errno);
  }
  peer::announce(port);
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { run(w); });
  peer::wait_for_stop_signal(stop_signals);
  std::uint64_t echoed = 0;
  for (auto& w : workers) {
    std::uint64_t one = 1;
    (void)!::write(w.wake, &one, sizeof one);
  }
  for (auto& t : threads) t.join();
  for (auto& w : workers) {
    echoed += w.echoed;
    ::close(w.sock);
    ::close(w.wake);
    ::close(w.epoll_fd);
  }
  std::fprintf(stderr, "%s: echoed %llu datagrams\n", peer::program,
               static_cast<unsigned long long>(echoed));
  return 0;
}
