// lib/net/tcp_listener.cpp: binding, and turning an accept's result into a
// stream.
#include "corio/net/tcp_listener.hpp"

#include <new>

#include "backend/backend.hpp"
#include "sys/socket.hpp"

namespace corio::net {

result<tcp_listener> tcp_listener::bind(const endpoint& at, listen_options options) noexcept {
  auto handle = detail::sys::open_tcp(at.af());
  if (!handle) return fail(handle.error());
  auto sock = detail::sys::adopt(*handle);
  if (auto ok = detail::sys::bind_listen(sock->handle, at, options); !ok) return fail(ok.error());
  return tcp_listener(std::move(sock));
}

result<endpoint> tcp_listener::local_endpoint() const noexcept {
  if (!sock_) return fail(errc::not_open);
  return detail::sys::local_endpoint(sock_->handle);
}

result<tcp_stream> detail_accept::accept_awaiter::await_resume() noexcept {
  if (not_open_) return fail(errc::not_open);
  if (op_.res < 0) return fail(detail::error_from_result(op_.res));
  // Backends that create the socket up front (IOCP) leave it in st_.accepted;
  // the others return the new descriptor as the result.
  detail::native_socket h = st_.accepted != detail::invalid_socket
                                ? st_.accepted
                                : static_cast<detail::native_socket>(op_.res);
  return tcp_stream(detail::sys::adopt(h));
}

}  // namespace corio::net

namespace corio::detail {

void socket_closer::operator()(socket_core* s) const noexcept {
  // Before the close: once closed, the descriptor's number may be reused.
  forget_socket(*s);
  if (s->handle != invalid_socket) sys::close_handle(s->handle);
  sys::free_core(s);
}

// ---- socket_core storage, reused per thread ----------------------------------
//
// Each thread keeps up to core_cache_limit freed cores in a list threaded
// through their storage; new_core takes from it. A server that closes one
// connection for each it accepts then allocates nothing per connection
// (lesson 5). Reuse is no new hazard: malloc hands back a just-freed block
// just as readily, and nothing may use a core after socket_closer (every
// operation on it has completed, and forget_socket has dropped what a
// backend kept). Under a sanitizer nothing is cached, so that ASan still
// reports a use of a freed core.

namespace sys {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_CORE_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define CORIO_CORE_CACHE 0
#endif
#endif
#ifndef CORIO_CORE_CACHE
#define CORIO_CORE_CACHE 1
#endif

// 1,024 cores of 48 bytes: at most 48 KiB kept per thread.
constexpr unsigned core_cache_limit = 1024;

struct core_cache {
  void* head = nullptr;  // a freed core's storage; its first word links the next
  unsigned size = 0;
  bool drain_registered = false;
  bool closed = false;  // the thread is exiting and has freed its list
};
// Trivially destructible, so still usable by destructors that run after the
// drain at thread exit (those free their cores instead of caching them).
constinit thread_local core_cache cache;

struct core_cache_drain {
  ~core_cache_drain() {
    while (void* p = cache.head) {
      cache.head = *static_cast<void**>(p);
      ::operator delete(p, sizeof(socket_core));
    }
    cache.size = 0;
    cache.closed = true;
  }
};

// Makes the calling thread free its list when it exits.
void register_drain() {
  static thread_local core_cache_drain drain;
  (void)drain;
  cache.drain_registered = true;
}

}  // namespace

socket_core* new_core() {
#if CORIO_CORE_CACHE
  if (void* p = cache.head) {
    cache.head = *static_cast<void**>(p);
    --cache.size;
    return ::new (p) socket_core;
  }
#endif
  return new socket_core;
}

void free_core(socket_core* s) noexcept {
#if CORIO_CORE_CACHE
  if (!cache.closed && cache.size < core_cache_limit) {
    if (!cache.drain_registered) register_drain();
    s->~socket_core();
    void* p = s;
    *static_cast<void**>(p) = cache.head;
    cache.head = p;
    ++cache.size;
    return;
  }
#endif
  delete s;
}

}  // namespace sys

}  // namespace corio::detail
