// lib/net/socket_core.cpp: a socket's life after it is opened: closing it
// (at once, or after the last operation still using it), and reusing the
// storage of freed socket cores, so steady-state accept allocates nothing.
#include <mutex>
#include <utility>
#include <new>

#include "backend/backend.hpp"
#include "core/sanitized.hpp"
#include "sys/socket.hpp"

namespace corio::detail {

// ---- socket_core storage, reused ------------------------------------------------
//
// A freed core's storage is kept for the next new_core instead of going back
// to the heap. Each thread keeps a short list of its own (no lock), and
// whole batches of core_batch move between threads through a shared depot
// (one lock per batch, never per connection). So a server that closes a
// connection for each one it accepts allocates nothing per connection
// (lesson 5), also when connections are accepted on one worker and closed
// on another (spawn goes round-robin; IOCP completes on any worker).
// Reuse is no new hazard: malloc hands back a just-freed block just as
// readily, and nothing may use a core after socket_closer (every operation
// on it has completed, and forget_socket has dropped what a backend kept).
// Under a sanitizer nothing is cached, so that ASan still reports a use of
// a freed core (core/sanitized.hpp).

namespace sys {
namespace {

#if !CORIO_SANITIZED
constexpr unsigned core_batch = 32;
// A thread keeps at most two batches; past that it hands one to the depot.
constexpr unsigned local_limit = 2 * core_batch;
// The depot keeps at most 256 batches (8,192 cores of 48 bytes, 384 KiB);
// past that, batches go back to the heap.
constexpr unsigned depot_limit = 256;

// Free storage is threaded through itself: word 0 links the next core of a
// list, and in the depot word 1 of a batch's first core links the next batch.
static_assert(sizeof(socket_core) >= 2 * sizeof(void*));
void*& next_core(void* p) noexcept { return static_cast<void**>(p)[0]; }
void*& next_batch(void* p) noexcept { return static_cast<void**>(p)[1]; }

void free_storage(void* list) noexcept {
  while (list) {
    void* next = next_core(list);
    ::operator delete(list, sizeof(socket_core));
    list = next;
  }
}

struct thread_cache {
  void* head = nullptr;
  unsigned size = 0;
};
// Trivially destructible: no thread-exit destructor (under MinGW those run
// under the loader lock, where they can deadlock). A worker drains its list
// as it ends (drain_core_cache); another thread keeps its few cores until
// the process ends.
constinit thread_local thread_cache cache;

// The depot. Never destroyed, its lock included: threads may free cores
// during static destruction. What it holds at exit goes back with the
// process.
constinit void* depot_head = nullptr;  // guarded by depot_mutex()
constinit unsigned depot_batches = 0;  // guarded by depot_mutex()
std::mutex& depot_mutex() noexcept {
  // Not constinit: std::mutex has no constant initializer with winpthreads.
  alignas(std::mutex) static unsigned char storage[sizeof(std::mutex)];
  static std::mutex& mu = *::new (storage) std::mutex;
  return mu;
}

// Moves the first core_batch cores of this thread's list to the depot, or
// back to the heap when the depot is full.
void give_batch() noexcept {
  void* first = cache.head;
  void* last = first;
  for (unsigned i = 1; i < core_batch; ++i) last = next_core(last);
  cache.head = next_core(last);
  cache.size -= core_batch;
  next_core(last) = nullptr;
  {
    std::lock_guard lock(depot_mutex());
    if (depot_batches < depot_limit) {
      next_batch(first) = depot_head;
      depot_head = first;
      ++depot_batches;
      return;
    }
  }
  free_storage(first);
}

// Fills this thread's empty list with a batch from the depot, if it has one.
bool take_batch() noexcept {
  std::lock_guard lock(depot_mutex());
  if (!depot_head) return false;
  cache.head = depot_head;
  cache.size = core_batch;
  depot_head = next_batch(depot_head);
  --depot_batches;
  return true;
}

#endif  // !CORIO_SANITIZED

}  // namespace

socket_ptr adopt(native_socket h) {
  auto* s = new_core();
  s->handle = h;
  return socket_ptr(s);
}

socket_core* new_core() {
  sockets_open.fetch_add(1, std::memory_order_relaxed);
#if !CORIO_SANITIZED
  if (cache.head || take_batch()) {
    void* p = cache.head;
    cache.head = next_core(p);
    --cache.size;
    return ::new (p) socket_core;
  }
#endif
  return new socket_core;
}

void free_core(socket_core* s) noexcept {
  sockets_open.fetch_sub(1, std::memory_order_relaxed);
#if !CORIO_SANITIZED
  s->~socket_core();
  void* p = s;
  next_core(p) = cache.head;
  cache.head = p;
  if (++cache.size > local_limit) give_batch();
#else
  delete s;
#endif
}

void drain_core_cache() noexcept {
#if !CORIO_SANITIZED
  free_storage(cache.head);
  cache.head = nullptr;
  cache.size = 0;
#endif
}

void drain_core_depot() noexcept {
#if !CORIO_SANITIZED
  void* batches = nullptr;
  {
    std::lock_guard lock(depot_mutex());
    batches = std::exchange(depot_head, nullptr);
    depot_batches = 0;
  }
  while (batches) {  // freed outside the lock
    void* next = next_batch(batches);
    free_storage(batches);
    batches = next;
  }
#endif
}

}  // namespace sys

// ---- Closing ---------------------------------------------------------------

namespace {
// Closes and frees a socket that nothing uses any more.
void destroy_socket(socket_core* s) noexcept {
  // Before the close: once closed, the descriptor's number may be reused.
  forget_socket(*s);
  if (s->handle != invalid_socket) sys::close_handle(s->handle);
  sys::free_core(s);
}
}  // namespace

void socket_closer::operator()(socket_core* s) const noexcept {
  const std::uint32_t before = s->uses.fetch_or(socket_use::closing, std::memory_order_acq_rel);
  if ((before & socket_use::in_flight) == 0) {
    destroy_socket(s);  // the usual case: nothing in flight
    return;
  }
  // TRICKY: operations are in flight (or starting: they took their use
  // before this fetch_or). The descriptor stays open, so its number cannot
  // be reused under them; abort_pending makes each of them complete soon
  // (and one that starts after it fails at once), and the last one to
  // finish destroys the socket (release_socket).
  sys::abort_pending(s->handle);
}

bool release_socket(socket_core& s, std::uint32_t use) noexcept {
  const std::uint32_t before = s.uses.fetch_sub(use, std::memory_order_acq_rel);
  if (!(before & socket_use::closing)) return false;
  if ((before & socket_use::in_flight) == use) destroy_socket(&s);
  return true;
}

}  // namespace corio::detail
