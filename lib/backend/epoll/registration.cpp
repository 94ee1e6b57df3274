// lib/backend/epoll/registration.cpp: what one worker knows about one
// socket that waited there (epoll_registration): made on the first wait,
// kept in the worker's pool, retired when the socket closes.
#include <sys/epoll.h>

#include <cerrno>
#include <new>
#include <utility>

#include "backend/epoll/epoll_backend.hpp"
#include "core/fault.hpp"

namespace corio::detail {

epoll_registration* epoll_backend::registration_of(socket_core& s) const noexcept {
  // Usually one entry: the socket's only worker. A socket whose halves are
  // used from two workers has one registration on each.
  for (auto* r = static_cast<epoll_registration*>(s.registrations.load(std::memory_order_acquire));
       r; r = r->next_in_socket) {
    if (r->owner == this) return r;
  }
  return nullptr;
}

epoll_registration* epoll_backend::registration_for(socket_core& s, int& err) noexcept {
  if (epoll_registration* r = registration_of(s)) return r;
  auto& head = s.registrations;
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
  // ENOSPC is what a full max_user_watches says, the realistic failure.
  const bool refused = fault_hit(fault_site::epoll_ctl_add)
                           ? (errno = ENOSPC, true)
                           : ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, static_cast<int>(s.handle), &ev) != 0;
  if (refused) {
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

epoll_registration* epoll_backend::allocate_registration() noexcept {
  if (!free_) {
    const std::size_t base = chunks_.size() * chunk_size;
    if (base + chunk_size - 1 > max_registrations) return nullptr;
    std::unique_ptr<epoll_registration[]> chunk(new (std::nothrow) epoll_registration[chunk_size]);
    if (!chunk) return nullptr;
    try {
      chunks_.push_back(nullptr);
    } catch (...) {
      return nullptr;
    }
    for (std::size_t i = chunk_size; i-- > 0;) {
      chunk[i].owner = this;
      chunk[i].index = static_cast<std::uint32_t>(base + i);
      chunk[i].next_free = free_;
      free_ = &chunk[i];
    }
    chunks_.back() = std::move(chunk);
  }
  epoll_registration* reg = free_;
  free_ = reg->next_free;
  reg->next_free = nullptr;
  return reg;
}

void epoll_backend::reclaim_registrations() noexcept {
  auto to_free_list = [this](epoll_registration* r) {
    while (r) {
      epoll_registration* next = r->next_free;
      r->sock = nullptr;
      r->next_in_socket = nullptr;
      r->reader = {};
      r->writer = {};
      r->live = false;
      r->read_ready = false;
      r->read_ended = false;
      r->next_free = free_;
      free_ = r;
      r = next;
    }
  };
  to_free_list(std::exchange(retired_, nullptr));
  if (returned_.load(std::memory_order_relaxed)) {
    to_free_list(returned_.exchange(nullptr, std::memory_order_acquire));
  }
}

void epoll_backend::retire(epoll_registration& reg) noexcept {
  // Explicitly, and before the caller closes the descriptor: close alone
  // drops the registration only when no other descriptor (dup, fork) refers
  // to the socket, and once closed the number may already name another
  // socket. An error here (EBADF, ENOENT) means nothing was left to remove.
  epoll_event unused{};
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, static_cast<int>(reg.sock->handle), &unused);
  if (tls_epoll_backend == this) {
    // No operation may be in flight on a socket being closed. If one is
    // (the caller's bug), it is dropped rather than retried on a descriptor
    // that is about to mean something else; it never completes, and
    // in_flight() shows it.
    reg.reader = {};
    reg.writer = {};
    reg.next_free = retired_;
    retired_ = &reg;
    return;
  }
  // Another thread: only the owner touches the registration's fields, so
  // hand it over through the lock-free stack that the owner's next poll
  // empties.
  epoll_registration* head = returned_.load(std::memory_order_relaxed);
  do {
    reg.next_free = head;
  } while (!returned_.compare_exchange_weak(head, &reg, std::memory_order_release,
                                            std::memory_order_relaxed));
}

void forget_epoll_socket(socket_core& s) noexcept {
  auto& head = s.registrations;
  // Sockets that never waited on epoll (and every socket under io_uring)
  // stop at this load.
  if (!head.load(std::memory_order_relaxed)) return;
  auto* reg = static_cast<epoll_registration*>(head.exchange(nullptr, std::memory_order_acquire));
  while (reg) {
    // Read before retire(): the owner may reuse the registration at once.
    epoll_registration* next = reg->next_in_socket;
    reg->owner->retire(*reg);
    reg = next;
  }
}

void epoll_backend::unlink_registrations() noexcept {
  // TRICKY: a socket may outlive the runtime (a listener declared before
  // it, closed after). Its list still holds this worker's registration, and
  // its close would call retire() on a destroyed backend. So unlink every
  // live registration from its socket here. This runs after every worker of
  // the runtime has been joined; a socket of this runtime closed on some
  // other thread at this very moment is a race the caller must not create.
  for (auto& chunk : chunks_) {
    for (std::size_t i = 0; i < chunk_size; ++i) {
      epoll_registration& reg = chunk[i];
      if (!reg.live) continue;
      auto& head = reg.sock->registrations;
      auto* r = static_cast<epoll_registration*>(head.load(std::memory_order_acquire));
      if (r == &reg) {
        head.store(reg.next_in_socket, std::memory_order_release);
        continue;
      }
      for (; r; r = r->next_in_socket) {
        if (r->next_in_socket == &reg) {
          r->next_in_socket = reg.next_in_socket;
          break;
        }
      }
    }
  }
}

}  // namespace corio::detail
