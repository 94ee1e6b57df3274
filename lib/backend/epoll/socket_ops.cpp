// lib/backend/epoll/socket_ops.cpp: accept, connect, recv and send as
// non-blocking syscalls, tried inline first and retried when epoll reports
// the socket ready.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "backend/epoll/epoll_backend.hpp"

namespace corio::detail {

namespace {

int fd_of(const socket_core& s) noexcept { return static_cast<int>(s.handle); }

// Each returns the syscall's result as io_uring would: >= 0, or a negated
// errno (-EAGAIN: not ready, wait).
std::int64_t do_recv(int fd, void* data, std::size_t size) noexcept {
  for (;;) {
    // MSG_DONTWAIT: never block the worker, whatever the descriptor's mode.
    ssize_t n = ::recv(fd, data, size, MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

// Readable now: data or the end of the stream (1 or 0 byte peeked), or the
// pending error; nothing is consumed.
std::int64_t peek_readable(int fd) noexcept {
  for (;;) {
    char b;
    ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

std::int64_t do_send(int fd, const void* data, std::size_t size) noexcept {
  for (;;) {
    // MSG_NOSIGNAL: a reset peer is an EPIPE result, not a SIGPIPE.
    ssize_t n = ::send(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

std::int64_t do_accept(int fd, accept_state& st) noexcept {
  for (;;) {
    // At most sizeof(sockaddr_storage) bytes of st.addr are written; the
    // rest holds the accept chain's link (see accept_link).
    socklen_t len = sizeof(sockaddr_storage);
    int r = ::accept4(fd, reinterpret_cast<sockaddr*>(st.addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (r >= 0) {
      st.addr_size = len;
      return r;
    }
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

// Waiting accepts beyond the first on one registration are chained through
// their accept_states: the link lives at the end of st.addr, past the
// sockaddr_storage that accept4 may fill, and is read only while the
// accept waits.
struct accept_link {
  operation* op = nullptr;
  accept_state* st = nullptr;
};
constexpr std::size_t link_offset = sizeof(accept_state::addr) - 2 * sizeof(void*);
static_assert(link_offset >= sizeof(sockaddr_storage));

accept_link load_link(const accept_state& st) noexcept {
  accept_link l;
  std::memcpy(&l, st.addr + link_offset, sizeof l);
  return l;
}
void store_link(accept_state& st, accept_link l) noexcept {
  std::memcpy(st.addr + link_offset, &l, sizeof l);
}

}  // namespace

bool epoll_backend::start_accept(operation& op, socket_core& listener, accept_state& st) noexcept {
  if (take_injected_failure()) return fail_now(op, -EAGAIN);
  st.addr_size = sizeof(sockaddr_storage);
  std::int64_t r = do_accept(fd_of(listener), st);
  if (r != -EAGAIN) return finish(op, r);
  return wait(op, listener, kind_accept, &st, 0);
}

bool epoll_backend::start_connect(operation& op, socket_core& s,
                                  const address_storage& to) noexcept {
  if (take_injected_failure()) return fail_now(op, -EAGAIN);
  int fd = fd_of(s);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(to.bytes), to.size) == 0) return finish(op, 0);
  // EINTR: the connection goes on in the background, as with EINPROGRESS.
  // Anything else (EAGAIN included: no local port left) is the result.
  if (errno != EINPROGRESS && errno != EINTR) return finish(op, -errno);
  // `to` lives in the awaiting frame until the connect completes.
  return wait(op, s, kind_connect, const_cast<address_storage*>(&to), 0);
}

bool epoll_backend::start_recv(operation& op, socket_core& s, void* data,
                               std::size_t size) noexcept {
  if (take_injected_failure()) return fail_now(op, -EAGAIN);
  std::int64_t r = do_recv(fd_of(s), data, size);
  if (r != -EAGAIN) return finish(op, r);
  return wait(op, s, kind_recv, data, size);
}

bool epoll_backend::start_wait_readable(operation& op, socket_core& s) noexcept {
  if (take_injected_failure()) return fail_now(op, -EAGAIN);
  std::int64_t r = peek_readable(fd_of(s));
  if (r != -EAGAIN) return finish(op, r);
  return wait(op, s, kind_wait_readable, nullptr, 0);
}

bool epoll_backend::start_send(operation& op, socket_core& s, const void* data,
                               std::size_t size) noexcept {
  if (take_injected_failure()) return fail_now(op, -EAGAIN);
  std::int64_t r = do_send(fd_of(s), data, size);
  if (r != -EAGAIN) return finish(op, r);
  return wait(op, s, kind_send, const_cast<void*>(data), size);
}

epoll_registration* epoll_backend::registration_for(socket_core& s, int& err) noexcept {
  std::atomic_ref<void*> head(s.backend_slots[0]);
  // Usually one entry: the socket's only worker. A socket whose halves are
  // used from two workers has one registration on each.
  for (auto* r = static_cast<epoll_registration*>(head.load(std::memory_order_acquire)); r;
       r = r->next_in_socket) {
    if (r->owner == this) return r;
  }
  epoll_registration* reg = allocate_registration();
  if (!reg) {
    err = ENOMEM;
    return nullptr;
  }
  // Once per socket and worker, edge-triggered, both directions: later
  // waits cost no epoll_ctl. Added after the syscall that said EAGAIN, which
  // loses nothing: adding a socket that is already ready queues its event.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = reg;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd_of(s), &ev) != 0) {
    err = errno;
    reg->next_free = free_;
    free_ = reg;
    return nullptr;
  }
  reg->sock = &s;
  reg->live = true;
  // Another worker may be adding its own registration at the same moment
  // (the socket's other half): push, never overwrite.
  void* expected = head.load(std::memory_order_relaxed);
  do {
    reg->next_in_socket = static_cast<epoll_registration*>(expected);
  } while (!head.compare_exchange_weak(expected, reg, std::memory_order_release,
                                       std::memory_order_relaxed));
  return reg;
}

bool epoll_backend::wait(operation& op, socket_core& s, std::uint32_t kind, void* data,
                         std::size_t size) noexcept {
  int err = 0;
  epoll_registration* reg = registration_for(s, err);
  // Lesson 2: a registration that fails finishes the operation with the
  // error now; nothing waits for an event that will never come.
  if (!reg) return fail_now(op, -err);
  epoll_wait_slot& w = is_reader_kind(kind) ? reg->reader : reg->writer;
  if (kind == kind_accept) {
    auto& st = *static_cast<accept_state*>(data);
    store_link(st, {});
    if (w.op) {
      store_link(*w.tail, {&op, &st});
    } else {
      w.op = &op;
      w.data = &st;
    }
    w.tail = &st;
  } else {
    // The awaiters refuse a second read or write on a stream half before
    // it gets here (lesson 1); should one arrive anyway, it is an error,
    // never a lost operation.
    if (w.op) return fail_now(op, -EBUSY);
    w.op = &op;
    w.data = data;
    w.size = size;
  }
  op.aux = aux_pack(kind, reg->index);
  return started();
}

bool epoll_backend::unpark(epoll_wait_slot& w, operation& op) noexcept {
  const bool accept = aux_kind(op.aux) == kind_accept;
  if (w.op == &op) {
    if (accept) {
      accept_link next = load_link(*static_cast<accept_state*>(w.data));
      w.op = next.op;
      w.data = next.st;
      if (!next.op) w.tail = nullptr;
    } else {
      w = {};
    }
    return true;
  }
  if (!accept || !w.op) return false;
  // A cancelled accept further down the chain.
  auto* prev = static_cast<accept_state*>(w.data);
  for (accept_link l = load_link(*prev); l.op; prev = l.st, l = load_link(*prev)) {
    if (l.op == &op) {
      store_link(*prev, load_link(*l.st));
      if (w.tail == l.st) w.tail = prev;
      return true;
    }
  }
  return false;
}

std::int64_t epoll_backend::perform(const operation& op, int fd, const epoll_wait_slot& w) noexcept {
  switch (aux_kind(op.aux)) {
    case kind_recv: return do_recv(fd, w.data, w.size);
    case kind_send: return do_send(fd, w.data, w.size);
    case kind_wait_readable: return peek_readable(fd);
    case kind_accept: return do_accept(fd, *static_cast<accept_state*>(w.data));
    case kind_connect: return finish_connect(fd, *static_cast<const address_storage*>(w.data));
    default: return -EINVAL;
  }
}

void epoll_backend::on_ready(epoll_registration& reg, epoll_wait_slot& w) noexcept {
  while (w.op) {
    operation& op = *w.op;
    const std::uint32_t kind = aux_kind(op.aux);
    // reg.sock is alive: an operation waits on it.
    std::int64_t r = perform(op, fd_of(*reg.sock), w);
    // Consumed by an inline operation since the event was fetched, or a
    // spurious wake-up: the next edge comes when the state changes again.
    if (r == -EAGAIN) return;
    unpark(w, op);
    complete(op, r);
    // A stream's next read or write starts inline by itself; only accepts
    // queue up behind each other, and the backlog may hold one for each.
    // (If the coroutine just resumed closed the listener, w is empty now.)
    if (kind != kind_accept) return;
  }
}

}  // namespace corio::detail
