// lib/backend/uring/socket_ops.cpp: accept, connect, recv and send as
// io_uring operations.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "backend/uring/uring_backend.hpp"

namespace corio::detail {

bool uring_backend::start_accept(operation& op, socket_core& listener, accept_state& st) noexcept {
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  st.addr_size = sizeof(sockaddr_storage);
  // The kernel writes the peer address and its length into `st`, which
  // lives in the awaiting frame until completion.
  io_uring_prep_accept(sqe, static_cast<int>(listener.handle),
                       reinterpret_cast<sockaddr*>(st.addr),
                       reinterpret_cast<socklen_t*>(&st.addr_size), SOCK_NONBLOCK | SOCK_CLOEXEC);
  return started();
}

bool uring_backend::start_connect(operation& op, socket_core& s,
                                  const address_storage& to) noexcept {
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  io_uring_prep_connect(sqe, static_cast<int>(s.handle), reinterpret_cast<const sockaddr*>(to.bytes),
                        to.size);
  return started();
}

bool uring_backend::start_recv(operation& op, socket_core& s, void* data,
                               std::size_t size) noexcept {
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  io_uring_prep_recv(sqe, static_cast<int>(s.handle), data, size, 0);
  return started();
}

bool uring_backend::start_wait_readable(operation& op, socket_core& s) noexcept {
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  // POLLIN also reports a peer's FIN (and POLLHUP/POLLERR always do): the
  // read that follows then sees the EOF or the error.
  io_uring_prep_poll_add(sqe, static_cast<int>(s.handle), POLLIN);
  return started();
}

bool uring_backend::start_send(operation& op, socket_core& s, const void* data,
                               std::size_t size) noexcept {
  io_uring_sqe* sqe = sqe_for(op);
  if (!sqe) return false;
  // MSG_NOSIGNAL: a reset peer is an EPIPE result, not a SIGPIPE.
  io_uring_prep_send(sqe, static_cast<int>(s.handle), data, size, MSG_NOSIGNAL);
  return started();
}

}  // namespace corio::detail
