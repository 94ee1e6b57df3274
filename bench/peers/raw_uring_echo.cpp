// raw_uring_echo: a hand-written io_uring echo server, set up as a competent
// engineer sets one up today. Benchmark baseline, not part of corio.
//
// One ring per thread, one listening socket per thread (SO_REUSEPORT when
// there are several), a 16 KiB buffer per connection, recv then send
// (re-sending the rest after a short send), close on EOF or error. The ring
// gets the setup corio's own ring gets, so that the comparison is fair:
// SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them (else
// COOP_TASKRUN | TASKRUN_FLAG, else none), a registered ring fd, a multishot
// accept, and one io_uring_enter per turn that both submits and waits.
//
// Not here, as not in corio's default path: provided buffer rings, registered
// files or buffers, multishot recv, SQPOLL.
//
// Every connection has exactly one operation in flight (a recv or a send),
// never two, so a completion can free its connection without a second one
// still pointing at it.

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "peer_common.hpp"

namespace {

constexpr unsigned ring_entries = 1024;
constexpr unsigned buffer_size = 16 * 1024;

// The low two bits of user_data say which operation completed; the rest is
// the address of the object it belongs to (a connection, or the worker for
// accept and wake-up). Both types are aligned to 8, so those bits are free.
enum class op : std::uintptr_t { accept = 0, recv = 1, send = 2, wake = 3 };
constexpr std::uintptr_t op_mask = 3;

// user_data of the cancel-everything request issued at shutdown; no object
// lives at address 0, so it cannot collide with a tagged pointer.
constexpr std::uint64_t cancel_user_data = 0;

struct alignas(8) connection {
  // Not an aggregate on purpose: `new connection{fd}` would zero the buffer.
  explicit connection(int socket) : fd(socket) {}

  int fd;                 // the accepted socket
  unsigned len = 0;       // bytes received into buf, being echoed back
  unsigned sent = 0;      // of len, bytes the kernel has already taken
  char buf[buffer_size];  // one buffer per connection: recv and send never overlap
};

struct worker {
  io_uring ring{};
  int listen_fd = -1;
  int wake_fd = -1;                    // eventfd the main thread writes to at shutdown
  std::uint64_t wake_value = 0;        // target of the read armed on wake_fd
  unsigned in_flight = 0;              // operations submitted and not yet completed
  bool stopping = false;               // no new operations once set
  bool give_up = false;                // shutdown could not cancel; leave the rest
  bool accept_error_reported = false;  // report a failing accept once, not per retry
  bool disabled = false;               // created R_DISABLED: the worker thread enables it
};

static_assert(alignof(connection) > op_mask && alignof(worker) > op_mask);

std::uint64_t tag(void* object, op o) {
  return reinterpret_cast<std::uintptr_t>(object) | static_cast<std::uintptr_t>(o);
}

// Returns a vacant sqe, submitting the queued ones first if the SQ is full.
io_uring_sqe* get_sqe(worker& w) {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&w.ring)) return sqe;
    int r = io_uring_submit(&w.ring);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) peer::fail("io_uring_submit", -r);
  }
}

// One multishot accept posts a completion per connection until it ends (no
// IORING_CQE_F_MORE on its completion): then it is armed again.
void arm_accept(worker& w) {
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_multishot_accept(sqe, w.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, tag(&w, op::accept));
  ++w.in_flight;
}

void arm_wake(worker& w) {
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_read(sqe, w.wake_fd, &w.wake_value, sizeof w.wake_value, 0);
  io_uring_sqe_set_data64(sqe, tag(&w, op::wake));
  ++w.in_flight;
}

void arm_recv(worker& w, connection* c) {
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_recv(sqe, c->fd, c->buf, buffer_size, 0);
  io_uring_sqe_set_data64(sqe, tag(c, op::recv));
  ++w.in_flight;
}

void arm_send(worker& w, connection* c) {
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, tag(c, op::send));
  ++w.in_flight;
}

// Cancels every operation in flight on the ring; each still completes (with
// -ECANCELED or its real result), and the loop reaps them before freeing.
void arm_cancel_all(worker& w) {
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data64(sqe, cancel_user_data);
}

void close_connection(connection* c) {
  ::close(c->fd);
  delete c;
}

void on_accept(worker& w, int res, bool more) {
  if (res >= 0) {
    if (w.stopping) {
      ::close(res);
      return;
    }
    int one = 1;
    ::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    arm_recv(w, new connection{res});
  } else if (res != -ECANCELED && !w.accept_error_reported) {
    // EMFILE and friends: keep accepting (the benchmark sees the failures),
    // but do not flood stderr once per retry.
    std::fprintf(stderr, "%s: accept: %s\n", peer::program, std::strerror(-res));
    w.accept_error_reported = true;
  }
  if (!more && !w.stopping) arm_accept(w);
}

void on_recv(worker& w, connection* c, int res) {
  if (res <= 0 || w.stopping) {  // EOF, error, or shutdown
    close_connection(c);
    return;
  }
  c->len = static_cast<unsigned>(res);
  c->sent = 0;
  arm_send(w, c);
}

void on_send(worker& w, connection* c, int res) {
  if (res <= 0 || w.stopping) {
    close_connection(c);
    return;
  }
  c->sent += static_cast<unsigned>(res);
  if (c->sent < c->len) {
    arm_send(w, c);  // short send: send the rest before receiving again
  } else {
    arm_recv(w, c);
  }
}

void on_completion(worker& w, std::uint64_t user_data, int res, unsigned flags) {
  if (user_data == cancel_user_data) {
    // res is the number of requests cancelled, or -ENOENT if there were none.
    // Anything else (EINVAL before Linux 5.19) means we cannot wait for them.
    if (res < 0 && res != -ENOENT) {
      std::fprintf(stderr, "%s: cancel at shutdown: %s\n", peer::program, std::strerror(-res));
      w.give_up = true;
    }
    return;
  }
  // A multishot accept stays in flight while its completions say "more".
  bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) --w.in_flight;
  // Safe: every user_data except cancel_user_data was built by tag() from a
  // live object, and that object is freed only here, on its one completion.
  auto o = static_cast<op>(user_data & op_mask);
  void* object = reinterpret_cast<void*>(static_cast<std::uintptr_t>(user_data) & ~op_mask);
  switch (o) {
    case op::accept:
      on_accept(w, res, more);
      break;
    case op::recv:
      on_recv(w, static_cast<connection*>(object), res);
      break;
    case op::send:
      on_send(w, static_cast<connection*>(object), res);
      break;
    case op::wake:
      w.stopping = true;
      arm_cancel_all(w);
      break;
  }
}

// Creates the ring disabled, so that the worker thread that enables it is its
// single issuer; falls back to weaker setups on older kernels.
void init_ring(worker& w) {
  const unsigned setups[] = {
      IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      0,
  };
  int r = -EINVAL;
  for (unsigned flags : setups) {
    io_uring_params p{};
    p.flags = flags;
    r = io_uring_queue_init_params(ring_entries, &w.ring, &p);
    if (r == 0) {
      w.disabled = (flags & IORING_SETUP_R_DISABLED) != 0;
      return;
    }
    if (r != -EINVAL) break;
  }
  peer::fail("io_uring_queue_init_params", -r);
}

void run(worker& w) {
  if (w.disabled) {
    if (int r = io_uring_enable_rings(&w.ring); r < 0) peer::fail("io_uring_enable_rings", -r);
  }
  io_uring_register_ring_fd(&w.ring);  // an old kernel without it: plain fd lookups
  arm_wake(w);
  arm_accept(w);
  unsigned idle_waits = 0;
  while (!w.give_up && !(w.stopping && w.in_flight == 0)) {
    int r;
    if (!w.stopping) {
      r = io_uring_submit_and_wait(&w.ring, 1);
    } else {
      // While draining, wake up now and then and cancel again, in case an
      // operation slipped past the first cancel; give up after a few seconds.
      __kernel_timespec ts{.tv_sec = 0, .tv_nsec = 200'000'000};
      io_uring_cqe* cqe = nullptr;
      r = io_uring_submit_and_wait_timeout(&w.ring, &cqe, 1, &ts, nullptr);
      if (r == -ETIME) {
        if (++idle_waits > 10) break;
        arm_cancel_all(w);
        continue;
      }
    }
    if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY)
      peer::fail("io_uring_submit_and_wait", -r);

    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&w.ring, head, cqe) {
      ++seen;
      on_completion(w, cqe->user_data, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&w.ring, seen);
  }
  // If draining gave up, the connections still in flight are leaked on
  // purpose: freeing them while the kernel may write into them is worse.
  io_uring_queue_exit(&w.ring);
  ::close(w.listen_fd);
  ::close(w.wake_fd);
}

}  // namespace

int main(int argc, char** argv) {
  peer::options opts = peer::parse_args(argc, argv);
  sigset_t stop_signals = peer::block_stop_signals();

  // Set everything up on the main thread so that any failure is reported
  // before the "listening" line. Thread 0 binds first; the others reuse the
  // port it got.
  std::vector<std::unique_ptr<worker>> workers;
  std::uint16_t port = opts.port;
  for (unsigned i = 0; i < opts.threads; ++i) {
    auto w = std::make_unique<worker>();
    w->listen_fd = peer::open_listener(port, opts.threads > 1, 0);
    w->wake_fd = ::eventfd(0, EFD_CLOEXEC);
    if (w->wake_fd < 0) peer::fail("eventfd", errno);
    init_ring(*w);
    workers.push_back(std::move(w));
  }
  peer::announce(port);

  std::vector<std::jthread> threads;
  threads.reserve(workers.size());
  for (auto& w : workers) threads.emplace_back([&w] { run(*w); });

  peer::wait_for_stop_signal(stop_signals);
  for (auto& w : workers) {
    std::uint64_t one = 1;
    if (::write(w->wake_fd, &one, sizeof one) != sizeof one) peer::fail("eventfd write", errno);
  }
  threads.clear();  // joins
  return 0;
}
