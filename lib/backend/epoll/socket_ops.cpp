// lib/backend/epoll/socket_ops.cpp: every socket operation as a
// non-blocking syscall, tried inline first and retried when epoll reports
// the socket ready: one case per op_code in perform().
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

#include "backend/epoll/epoll_backend.hpp"
#include "backend/pooled_recv.hpp"
#include "corio/detail/file_io.hpp"

namespace corio::detail {

namespace {

// Each returns the syscall's result as io_uring would: >= 0, or a negated
// errno (-EAGAIN: not ready, wait). EINTR is retried.
template <class F>
std::int64_t retry_eintr(F call) noexcept {
  for (;;) {
    auto n = call();
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

// The connect that a ready socket retries: a second connect() on a
// non-blocking socket says how the first one ended (0, or the error, which
// it consumes like SO_ERROR would), or EALREADY while it is still going,
// which a spurious wake-up cannot mistake for success.
std::int64_t finish_connect(int fd, const address_storage& to) noexcept {
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(to.bytes), to.size) == 0) return 0;
    switch (errno) {
      case EINTR: continue;
      case EISCONN: return 0;
      case EALREADY:
      case EINPROGRESS: return -EAGAIN;
      default: return -errno;
    }
  }
}

// The syscall of `op`: its result, or -EAGAIN when the socket is not ready.
// MSG_DONTWAIT: never block the worker, whatever the descriptor's mode;
// MSG_NOSIGNAL: a reset peer is an EPIPE result, not a SIGPIPE.
std::int64_t perform(operation& op) noexcept {
  const int fd = static_cast<int>(op.sock->handle);
  switch (op.code) {
    case op_code::recv:
      return retry_eintr([&] { return ::recv(fd, op.args.buf.data, op.args.buf.size, MSG_DONTWAIT); });
    case op_code::send:
      return retry_eintr([&] {
        return ::send(fd, op.args.buf.data, op.args.buf.size, MSG_DONTWAIT | MSG_NOSIGNAL);
      });
    case op_code::send_vectored: {
      msghdr msg{};
      msg.msg_iov = reinterpret_cast<iovec*>(const_cast<io_vec*>(op.args.vec.vecs));
      msg.msg_iovlen = op.args.vec.count;
      return retry_eintr([&] { return ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL); });
    }
    case op_code::wait_readable: {
      // Readable now: data or the end of the stream (1 or 0 byte peeked),
      // or the pending error; nothing is consumed.
      char b;
      return retry_eintr([&] { return ::recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK); });
    }
    case op_code::accept: {
      accept_state& st = *op.args.accept;
      socklen_t len = sizeof(sockaddr_storage);
      const std::int64_t r = retry_eintr([&] {
        return ::accept4(fd, reinterpret_cast<sockaddr*>(st.addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      });
      if (r >= 0) st.addr_size = len;
      return r;
    }
    case op_code::connect:
      return finish_connect(fd, *op.args.connect_to);
    case op_code::recv_from: {
      // The header may live here: the syscall is done when it returns.
      datagram_state& st = *op.args.datagram;
      msghdr msg{};
      msg.msg_iov = reinterpret_cast<iovec*>(&st.buf);
      msg.msg_iovlen = 1;
      msg.msg_name = st.peer.bytes;
      msg.msg_namelen = sizeof st.peer.bytes;
      // MSG_TRUNC: the result is the datagram's full length (see finish_recv).
      const std::int64_t r =
          retry_eintr([&] { return ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC); });
      if (r >= 0) st.peer.size = msg.msg_namelen;
      return r;
    }
    case op_code::send_to: {
      datagram_state& st = *op.args.datagram;
      msghdr msg{};
      msg.msg_iov = reinterpret_cast<iovec*>(&st.buf);
      msg.msg_iovlen = 1;
      if (st.peer.size != 0) {
        msg.msg_name = st.peer.bytes;
        msg.msg_namelen = st.peer.size;
      }
      return retry_eintr([&] { return ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL); });
    }
    case op_code::send_file: {
      // The socket is non-blocking, so this never waits for room in it;
      // it may wait for the disk (a page-cache miss), as a read would.
      file_request& req = *op.args.file;
      const std::uint64_t want = req.size < max_file_step ? req.size : max_file_step;
      return retry_eintr([&] {
        off_t off = static_cast<off_t>(req.offset);
        return ::sendfile(fd, static_cast<int>(req.handle), &off, want);
      });
    }
    case op_code::recv_pooled:
      return recv_into_pool(fd, op);
    case op_code::timer:
    case op_code::file_open:
    case op_code::file_read:
    case op_code::file_write:
    case op_code::file_sync:
      break;
  }
  return -EINVAL;
}

// Records in `reg` what a read-side operation's syscall result `r` says:
// EAGAIN, or a stream read of fewer bytes than asked (the kernel copies
// until the queue is empty), means the socket ran dry. A datagram, an
// accept or a peek says nothing about what is left; EOF and errors stay
// readable for every later read.
void note_read(epoll_registration& reg, const operation& op, std::int64_t r) noexcept {
  if (reg.read_ended) return;
  if (r == -EAGAIN) {
    reg.read_ready = false;
  } else if (r > 0) {
    const auto n = static_cast<std::size_t>(r);
    if ((op.code == op_code::recv && n < op.args.buf.size) ||
        (op.code == op_code::recv_pooled && n < op.args.pooled.block->capacity))
      reg.read_ready = false;
  }
}

// The first try of a connect: 0, the error, or -EAGAIN while it goes on.
std::int64_t begin_connect(operation& op) noexcept {
  const address_storage& to = *op.args.connect_to;
  if (::connect(static_cast<int>(op.sock->handle), reinterpret_cast<const sockaddr*>(to.bytes),
                to.size) == 0)
    return 0;
  // EINTR: the connection goes on in the background, as with EINPROGRESS.
  // Anything else (EAGAIN included: no local port left) is the result.
  if (errno == EINPROGRESS || errno == EINTR) return -EAGAIN;
  return -errno;
}

}  // namespace

bool epoll_backend::start(operation& op) noexcept {
  if (op.code == op_code::timer) return start_timer(op);
  if (is_pool_file_op(op.code)) return start_on_pool(op);  // file_ops.cpp
  if (waits_to_read(op.code)) return start_read(op);
  const std::int64_t r = op.code == op_code::connect ? begin_connect(op) : perform(op);
  if (r != -EAGAIN) return finish(op, r);
  return wait(op);
}

bool epoll_backend::start_read(operation& op) noexcept {
  epoll_registration* reg = registration_of(*op.sock);
  // Dry since this worker's last read and no event since: a request-reply
  // connection's next read would only hear EAGAIN (one wasted syscall per
  // message). A socket never seen dry has no registration and is tried.
  if (reg && !reg->read_ready) return wait(op);
  const std::int64_t r = perform(op);
  if (reg) note_read(*reg, op, r);
  if (r != -EAGAIN) return finish(op, r);
  return wait(op);
}

bool epoll_backend::wait(operation& op) noexcept {
  int err = 0;
  epoll_registration* reg = registration_for(*op.sock, err);
  // Lesson 2: a registration that fails finishes the operation with the
  // error now; nothing waits for an event that will never come.
  if (!reg) return fail_now(op, -err);
  epoll_wait_slot& w = waits_to_read(op.code) ? reg->reader : reg->writer;
  if (op.code == op_code::accept) {
    op.args.accept->next_waiting = nullptr;
    if (w.op) {
      w.tail->args.accept->next_waiting = &op;
    } else {
      w.op = &op;
    }
    w.tail = &op;
  } else {
    // The awaiters refuse a second read or write on a stream half before
    // it gets here (lesson 1); should one arrive anyway, it is an error,
    // never a lost operation.
    if (w.op) return fail_now(op, -EBUSY);
    w.op = &op;
  }
  op.state = op_state::waiting;
  op.place.registration = reg->index;
  return started();
}

bool epoll_backend::unpark(epoll_wait_slot& w, operation& op) noexcept {
  if (w.op == &op) {
    w.op = op.code == op_code::accept ? op.args.accept->next_waiting : nullptr;
    if (!w.op) w.tail = nullptr;
    return true;
  }
  if (op.code != op_code::accept || !w.op) return false;
  // A cancelled accept further down the queue.
  for (operation* prev = w.op; operation* next = prev->args.accept->next_waiting;
       prev = next) {
    if (next == &op) {
      prev->args.accept->next_waiting = op.args.accept->next_waiting;
      if (w.tail == &op) w.tail = prev;
      return true;
    }
  }
  return false;
}

void epoll_backend::on_ready(epoll_wait_slot& w) noexcept {
  while (w.op) {
    operation& op = *w.op;
    // op.sock is alive: an operation waits on it.
    std::int64_t r = perform(op);
    if (waits_to_read(op.code)) note_read(registration_at(op.place.registration), op, r);
    if (r == -EAGAIN) {
      // Consumed by an inline operation since the event was fetched, or a
      // spurious wake-up: the next edge comes when the state changes again.
      // TRICKY: unless the socket is closing. An unconnected UDP socket that
      // socket_closer shut down still answers EAGAIN to a MSG_DONTWAIT
      // receive (only a blocking one sees the shutdown), so the wake-up the
      // shutdown sent is the only notice this operation gets: it ends here.
      if (!(op.sock->uses.load(std::memory_order_acquire) & socket_use::closing)) return;
      r = -ECANCELED;
    }
    const bool accept = op.code == op_code::accept;
    unpark(w, op);
    complete(op, r);
    // A stream's next read or write starts inline by itself; only accepts
    // queue up behind each other, and the backlog may hold one for each.
    // (If the coroutine just resumed closed the listener, w is empty now.)
    if (!accept) return;
  }
}

}  // namespace corio::detail
