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
// Two options give it what corio's read_pooled has, and what item 2 of the
// io_uring issue measures:
//   --multishot  a provided-buffer ring per worker (256 x 16 KiB) and one
//                multishot recv per connection; each received buffer is
//                sent back as it is and returned to the ring once sent
//                (corio's default on kernels 6.0+);
//   --direct     registered (direct) descriptors: accepted sockets go into
//                a sparse file table (multishot accept-direct), every
//                operation names them with IOSQE_FIXED_FILE, and they are
//                closed with a close-direct request (corio does not).
// Not here: registered buffers, SQPOLL.
//
// Without --multishot every connection has exactly one operation in flight
// (a recv or a send), never two, so a completion can free its connection
// without a second one still pointing at it. With it a connection has its
// recv armed and at most one send; it is freed when neither is in flight.

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string_view>
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
// lives at address 0, so it cannot collide with a tagged pointer. Nor at
// 8: the close-direct requests, whose results nobody needs.
constexpr std::uint64_t cancel_user_data = 0;
constexpr std::uint64_t close_user_data = 8;

bool multishot = false;  // --multishot
bool direct = false;     // --direct

constexpr unsigned ring_buffers = 256;  // per worker, as corio's
constexpr std::uint16_t buffer_group = 0;

struct alignas(8) connection {
  // Not an aggregate on purpose: `new connection{fd}` would zero the buffer.
  explicit connection(int socket) : fd(socket) {}

  int fd;                 // the accepted socket
  unsigned len = 0;       // bytes received into buf, being echoed back
  unsigned sent = 0;      // of len, bytes the kernel has already taken
  char buf[buffer_size];  // one buffer per connection: recv and send never overlap
};

// --multishot: a connection's received buffers, sent back in order.
struct alignas(8) ms_connection {
  explicit ms_connection(int socket) : fd(socket) {}
  struct piece {
    std::uint16_t bid;
    unsigned len;
  };
  int fd;
  std::deque<piece> queue;   // received, not yet sent back (front: being sent)
  unsigned sent = 0;         // of the front piece
  bool recv_armed = false;   // the multishot recv is in flight
  bool sending = false;      // a send is in flight
  bool want_recv = false;    // the recv ended for lack of buffers: re-arm when one is back
  bool closing = false;      // the end, an error or shutdown: free once idle
  bool cancel_sent = false;
};

struct worker {
  io_uring ring{};
  io_uring_buf_ring* buffers = nullptr;  // --multishot
  char* buffer_memory = nullptr;
  std::deque<ms_connection*> starved;   // recvs ended for lack of buffers, to re-arm
  int listen_fd = -1;
  int wake_fd = -1;                    // eventfd the main thread writes to at shutdown
  std::uint64_t wake_value = 0;        // target of the read armed on wake_fd
  unsigned in_flight = 0;              // operations submitted and not yet completed
  bool stopping = false;               // no new operations once set
  bool give_up = false;                // shutdown could not cancel; leave the rest
  bool accept_error_reported = false;  // report a failing accept once, not per retry
  bool disabled = false;               // created R_DISABLED: the worker thread enables it
};

static_assert(alignof(connection) > op_mask && alignof(worker) > op_mask &&
              alignof(ms_connection) > op_mask);

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

// A connection's socket in an SQE: its descriptor, or with --direct its
// index in the ring's file table.
void set_socket(io_uring_sqe* sqe) {
  if (direct) sqe->flags |= IOSQE_FIXED_FILE;
}

// One multishot accept posts a completion per connection until it ends (no
// IORING_CQE_F_MORE on its completion): then it is armed again.
void arm_accept(worker& w) {
  io_uring_sqe* sqe = get_sqe(w);
  if (direct) {
    // No SOCK_CLOEXEC: a direct descriptor is no file descriptor (the kernel refuses it).
    io_uring_prep_multishot_accept_direct(sqe, w.listen_fd, nullptr, nullptr, 0);
  } else {
    io_uring_prep_multishot_accept(sqe, w.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data64(sqe, tag(&w, op::accept));
  ++w.in_flight;
}

void close_socket(worker& w, int fd) {
  if (!direct) {
    ::close(fd);
    return;
  }
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_close_direct(sqe, static_cast<unsigned>(fd));
  io_uring_sqe_set_data64(sqe, close_user_data);
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
  set_socket(sqe);
  io_uring_sqe_set_data64(sqe, tag(c, op::recv));
  ++w.in_flight;
}

void arm_send(worker& w, connection* c) {
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
  set_socket(sqe);
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

void close_connection(worker& w, connection* c) {
  close_socket(w, c->fd);
  delete c;
}

// ---- --multishot ----------------------------------------------------------------

char* buffer_at(worker& w, std::uint16_t bid) {
  return w.buffer_memory + std::size_t{bid} * buffer_size;
}

void recycle(worker& w, std::uint16_t bid) {
  io_uring_buf_ring_add(w.buffers, buffer_at(w, bid), buffer_size, bid,
                        io_uring_buf_ring_mask(ring_buffers), 0);
  io_uring_buf_ring_advance(w.buffers, 1);
}

void arm_ms_recv(worker& w, ms_connection* c);

// A buffer came back: a connection whose recv ran out of buffers gets its
// recv again.
void feed_starved(worker& w) {
  while (!w.starved.empty()) {
    ms_connection* c = w.starved.front();
    w.starved.pop_front();
    if (c->want_recv && !c->recv_armed && !c->closing && !w.stopping) {
      arm_ms_recv(w, c);
      return;
    }
    c->want_recv = false;
  }
}

void setup_buffers(worker& w) {
  const std::size_t ring_bytes = (ring_buffers * sizeof(io_uring_buf) + 4095) & ~std::size_t{4095};
  void* m = ::mmap(nullptr, ring_bytes + std::size_t{ring_buffers} * buffer_size,
                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) peer::fail("mmap", errno);
  w.buffers = static_cast<io_uring_buf_ring*>(m);
  w.buffer_memory = static_cast<char*>(m) + ring_bytes;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(m);
  reg.ring_entries = ring_buffers;
  reg.bgid = buffer_group;
  if (int r = io_uring_register_buf_ring(&w.ring, &reg, 0); r < 0)
    peer::fail("io_uring_register_buf_ring", -r);
  io_uring_buf_ring_init(w.buffers);
  for (unsigned i = 0; i < ring_buffers; ++i) recycle(w, static_cast<std::uint16_t>(i));
}

void arm_ms_recv(worker& w, ms_connection* c) {
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_recv_multishot(sqe, c->fd, nullptr, 0, 0);
  set_socket(sqe);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffer_group;
  io_uring_sqe_set_data64(sqe, tag(c, op::recv));
  c->recv_armed = true;
  c->want_recv = false;  // (a stale entry in w.starved is skipped)
  ++w.in_flight;
}

void arm_ms_send(worker& w, ms_connection* c) {
  const ms_connection::piece& p = c->queue.front();
  io_uring_sqe* sqe = get_sqe(w);
  io_uring_prep_send(sqe, c->fd, buffer_at(w, p.bid) + c->sent, p.len - c->sent, MSG_NOSIGNAL);
  set_socket(sqe);
  io_uring_sqe_set_data64(sqe, tag(c, op::send));
  c->sending = true;
  ++w.in_flight;
}

// Frees a closing connection once nothing of it is in flight; until then
// makes sure its recv ends.
void settle(worker& w, ms_connection* c) {
  if (!c->closing) return;
  if (c->recv_armed) {
    if (!c->cancel_sent) {
      io_uring_sqe* sqe = get_sqe(w);
      io_uring_prep_cancel64(sqe, tag(c, op::recv), 0);
      io_uring_sqe_set_data64(sqe, close_user_data);
      c->cancel_sent = true;
    }
    return;
  }
  if (c->sending) return;
  if (c->want_recv) std::erase(w.starved, c);
  for (const auto& p : c->queue) {
    recycle(w, p.bid);
    feed_starved(w);
  }
  close_socket(w, c->fd);
  delete c;
}

void on_ms_recv(worker& w, ms_connection* c, int res, unsigned flags) {
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) c->recv_armed = false;
  if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
    c->queue.push_back({static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                        static_cast<unsigned>(res)});
    if (!c->sending && !c->closing) {
      c->sent = 0;
      arm_ms_send(w, c);
    }
    if (!more && !c->closing && !w.stopping) arm_ms_recv(w, c);  // ended early (CQ overflow)
  } else if (res == -ENOBUFS) {
    // Every buffer is out: re-armed when one comes back.
    if (!c->want_recv) w.starved.push_back(c);
    c->want_recv = true;
  } else {
    c->closing = true;  // the end, an error, or a cancel
  }
  if (w.stopping) c->closing = true;
  settle(w, c);
}

void on_ms_send(worker& w, ms_connection* c, int res) {
  c->sending = false;
  if (res <= 0 || w.stopping) {
    c->closing = true;
  } else {
    c->sent += static_cast<unsigned>(res);
    if (c->sent == c->queue.front().len) {
      recycle(w, c->queue.front().bid);
      c->queue.pop_front();
      c->sent = 0;
      feed_starved(w);
    }
    if (!c->closing && !c->queue.empty()) arm_ms_send(w, c);
  }
  settle(w, c);
}

// ---------------------------------------------------------------------------------

void on_accept(worker& w, int res, bool more) {
  if (res >= 0) {
    if (w.stopping) {
      close_socket(w, res);
      return;
    }
    if (!direct) {
      int one = 1;
      ::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }  // direct: inherited from the listener (set in main)
    if (multishot) {
      arm_ms_recv(w, new ms_connection{res});
    } else {
      arm_recv(w, new connection{res});
    }
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
    close_connection(w, c);
    return;
  }
  c->len = static_cast<unsigned>(res);
  c->sent = 0;
  arm_send(w, c);
}

void on_send(worker& w, connection* c, int res) {
  if (res <= 0 || w.stopping) {
    close_connection(w, c);
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
  if (user_data == close_user_data) return;
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
      if (multishot) {
        on_ms_recv(w, static_cast<ms_connection*>(object), res, flags);
      } else {
        on_recv(w, static_cast<connection*>(object), res);
      }
      break;
    case op::send:
      if (multishot) {
        on_ms_send(w, static_cast<ms_connection*>(object), res);
      } else {
        on_send(w, static_cast<connection*>(object), res);
      }
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
  if (multishot) setup_buffers(w);
  if (direct) {
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    const auto slots = static_cast<unsigned>(std::min<rlim_t>(files.rlim_cur, 65536));
    if (int r = io_uring_register_files_sparse(&w.ring, slots); r < 0)
      peer::fail("io_uring_register_files_sparse", -r);
  }
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
  // Our own options first; the rest are every peer's (peer_common.hpp).
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--multishot") {
      multishot = true;
    } else if (arg == "--direct") {
      direct = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  rest.push_back(nullptr);
  peer::options opts = peer::parse_args(static_cast<int>(rest.size()) - 1, rest.data());
  sigset_t stop_signals = peer::block_stop_signals();

  // Set everything up on the main thread so that any failure is reported
  // before the "listening" line. Thread 0 binds first; the others reuse the
  // port it got.
  std::vector<std::unique_ptr<worker>> workers;
  std::uint16_t port = opts.port;
  for (unsigned i = 0; i < opts.threads; ++i) {
    auto w = std::make_unique<worker>();
    w->listen_fd = peer::open_listener(port, opts.threads > 1, 0);
    if (direct) {
      // Accepted sockets inherit it: a direct descriptor has no fd for setsockopt.
      int one = 1;
      ::setsockopt(w->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
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
