// lib/backend/uring/socket_ops.cpp: every operation as an io_uring
// submission: one case per op_code.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>

#include "backend/uring/uring_backend.hpp"

namespace corio::detail {

static_assert(sizeof(io_vec) == sizeof(iovec) && offsetof(io_vec, data) == offsetof(iovec, iov_base) &&
                  offsetof(io_vec, size) == offsetof(iovec, iov_len),
              "io_vec must have the layout of struct iovec");

static_assert(sizeof(msghdr) <= sizeof(datagram_state::header) &&
                  alignof(msghdr) <= alignof(datagram_state),
              "datagram_state::header must hold a struct msghdr");

namespace {
// The msghdr of a datagram operation, in its datagram_state: the kernel
// reads it when it issues the operation and, for recvmsg, writes the name
// length and flags back when it completes, so it lives in the awaiter (the
// coroutine's frame) until the CQE, not in the submission-queue slot.
msghdr& datagram_header(datagram_state& st, bool with_name) noexcept {
  auto& msg = *reinterpret_cast<msghdr*>(st.header);
  msg = {};
  msg.msg_iov = reinterpret_cast<iovec*>(&st.buf);
  msg.msg_iovlen = 1;
  if (with_name) {
    msg.msg_name = st.peer.bytes;
    msg.msg_namelen = st.peer.size;
  }
  return msg;
}
}  // namespace

bool uring_backend::start(operation& op) noexcept {
  if (op.code == op_code::timer) return start_timer(op);
  if (is_file_code(op.code)) return start_file(op);  // file_ops.cpp
  // read_pooled keeps a multishot recv; while a socket has one, its plain
  // reads go through it too (multishot_recv.cpp).
  if (is_read_code(op.code)) {
    multishot_recv* m = kept_receive(*op.sock);
    if (m && ((op.code == op_code::recv_pooled && multishot_) || m->used)) {
      if (const int r = start_multishot(op, *m); r >= 0) return r == 1;
    }
  }
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  const int fd = static_cast<int>(op.sock->handle);
  switch (op.code) {
    case op_code::recv:
      io_uring_prep_recv(sqe, fd, op.args.buf.data, op.args.buf.size, 0);
      break;
    case op_code::send:
      // MSG_NOSIGNAL: a reset peer is an EPIPE result, not a SIGPIPE.
      io_uring_prep_send(sqe, fd, op.args.buf.data, op.args.buf.size, MSG_NOSIGNAL);
      break;
    case op_code::send_vectored: {
      msghdr& msg = msghdr_for(sqe);
      msg = {};
      msg.msg_iov = reinterpret_cast<iovec*>(const_cast<io_vec*>(op.args.vec.vecs));
      msg.msg_iovlen = op.args.vec.count;
      io_uring_prep_sendmsg(sqe, fd, &msg, MSG_NOSIGNAL);
      break;
    }
    case op_code::wait_readable:
      // POLLIN also reports a peer's FIN (and POLLHUP/POLLERR always do):
      // the read that follows then sees the EOF or the error.
      io_uring_prep_poll_add(sqe, fd, POLLIN);
      break;
    case op_code::accept: {
      accept_state& st = *op.args.accept;
      st.addr_size = sizeof(sockaddr_storage);
      // The kernel writes the peer address and its length into `st`, which
      // lives in the awaiting frame until completion.
      io_uring_prep_accept(sqe, fd, reinterpret_cast<sockaddr*>(st.addr),
                           reinterpret_cast<socklen_t*>(&st.addr_size),
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
      break;
    }
    case op_code::connect:
      io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(op.args.connect_to->bytes),
                            op.args.connect_to->size);
      break;
    case op_code::recv_from: {
      datagram_state& st = *op.args.datagram;
      st.peer.size = sizeof st.peer.bytes;
      // MSG_TRUNC: the result is the datagram's full length, so a datagram
      // cut to the buffer is seen (finish_recv), never taken as whole.
      io_uring_prep_recvmsg(sqe, fd, &datagram_header(st, true), MSG_TRUNC);
      break;
    }
    case op_code::send_to: {
      datagram_state& st = *op.args.datagram;
      io_uring_prep_sendmsg(sqe, fd, &datagram_header(st, st.peer.size != 0), MSG_NOSIGNAL);
      break;
    }
    case op_code::recv_pooled:
      prepare_pooled(sqe, op);  // buffer_ring.cpp
      break;
    case op_code::timer:
    case op_code::file_open:
    case op_code::file_read:
    case op_code::file_write:
    case op_code::file_sync:
    case op_code::send_file:
      break;  // handled above
  }
  return started();
}

}  // namespace corio::detail
