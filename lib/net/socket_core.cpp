// lib/net/socket_core.cpp: a socket's life after it is opened: closing it
// (at once, or after the last operation still using it), and reusing the
// storage of freed socket cores, so steady-state accept allocates nothing.
#include <mutex>
#include <utility>
#include <new>

#include "backend/backend.hpp"
#include "corio/detail/pooled.hpp"
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

// Two kinds of core, kept apart: plain ones, and io_uring's receiving_cores
// (io.hpp), which are 32 bytes longer.
constexpr std::size_t core_sizes[2] = {sizeof(socket_core), sizeof(receiving_core)};
unsigned kind_of(const socket_core* s) noexcept { return s->has_receive ? 1 : 0; }

#if !CORIO_SANITIZED
constexpr unsigned core_batch = 32;
// A thread keeps at most two batches of each kind; past that it hands one
// to the depot.
constexpr unsigned local_limit = 2 * core_batch;
// The depot keeps at most 256 batches of each kind (8,192 cores: 192 KiB
// of plain cores, 448 KiB of receiving ones); past that, batches go back
// to the heap.
constexpr unsigned depot_limit = 256;

// Free storage is threaded through itself: word 0 links the next core of a
// list, and in the depot word 1 of a batch's first core links the next batch.
static_assert(sizeof(socket_core) >= 2 * sizeof(void*));
void*& next_core(void* p) noexcept { return static_cast<void**>(p)[0]; }
void*& next_batch(void* p) noexcept { return static_cast<void**>(p)[1]; }

void free_storage(void* list, unsigned kind) noexcept {
  while (list) {
    void* next = next_core(list);
    ::operator delete(list, core_sizes[kind]);
    list = next;
  }
}

struct thread_cache {
  void* head = nullptr;
  unsigned size = 0;
};
// Trivially destructible: no thread-exit destructor (under MinGW those run
// under the loader lock, where they can deadlock). A worker drains its lists
// as it ends (drain_core_cache); another thread keeps its few cores until
// the process ends.
constinit thread_local thread_cache cache[2];

// The depot. Never destroyed, its lock included: threads may free cores
// during static destruction. What it holds at exit goes back with the
// process.
constinit void* depot_head[2] = {};    // guarded by depot_mutex()
constinit unsigned depot_batches[2] = {};  // guarded by depot_mutex()
std::mutex& depot_mutex() noexcept {
  // Not constinit: std::mutex has no constant initializer with winpthreads.
  alignas(std::mutex) static unsigned char storage[sizeof(std::mutex)];
  static std::mutex& mu = *::new (storage) std::mutex;
  return mu;
}

// Moves the first core_batch cores of this thread's list of `kind` to the
// depot, or back to the heap when the depot is full.
void give_batch(unsigned kind) noexcept {
  thread_cache& c = cache[kind];
  void* first = c.head;
  void* last = first;
  for (unsigned i = 1; i < core_batch; ++i) last = next_core(last);
  c.head = next_core(last);
  c.size -= core_batch;
  next_core(last) = nullptr;
  {
    std::lock_guard lock(depot_mutex());
    if (depot_batches[kind] < depot_limit) {
      next_batch(first) = depot_head[kind];
      depot_head[kind] = first;
      ++depot_batches[kind];
      return;
    }
  }
  free_storage(first, kind);
}

// Fills this thread's empty list of `kind` with a batch from the depot, if
// it has one.
bool take_batch(unsigned kind) noexcept {
  std::lock_guard lock(depot_mutex());
  if (!depot_head[kind]) return false;
  cache[kind].head = depot_head[kind];
  cache[kind].size = core_batch;
  depot_head[kind] = next_batch(depot_head[kind]);
  --depot_batches[kind];
  return true;
}

#endif  // !CORIO_SANITIZED

// A default-constructed core of `kind` in storage `p`.
socket_core* make_core(void* p, unsigned kind) {
  if (kind == 0) return ::new (p) socket_core;
  auto* s = ::new (p) receiving_core;
  s->has_receive = true;
  return s;
}

}  // namespace

socket_ptr adopt(native_socket h) {
  auto* s = new_core();
  s->handle = h;
  return socket_ptr(s);
}

socket_core* new_core() {
  sockets_open.fetch_add(1, std::memory_order_relaxed);
  const unsigned kind = make_receiving_cores ? 1 : 0;
#if !CORIO_SANITIZED
  thread_cache& c = cache[kind];
  if (c.head || take_batch(kind)) {
    void* p = c.head;
    c.head = next_core(p);
    --c.size;
    return make_core(p, kind);
  }
#endif
  void* p = ::operator new(core_sizes[kind]);
  return make_core(p, kind);
}

void free_core(socket_core* s) noexcept {
  sockets_open.fetch_sub(1, std::memory_order_relaxed);
  const unsigned kind = kind_of(s);
  if (kind == 1) {
    static_cast<receiving_core*>(s)->~receiving_core();
  } else {
    s->~socket_core();
  }
  void* p = s;
#if !CORIO_SANITIZED
  thread_cache& c = cache[kind];
  next_core(p) = c.head;
  c.head = p;
  if (++c.size > local_limit) give_batch(kind);
#else
  ::operator delete(p, core_sizes[kind]);
#endif
}

void drain_core_cache() noexcept {
#if !CORIO_SANITIZED
  for (unsigned kind = 0; kind < 2; ++kind) {
    free_storage(cache[kind].head, kind);
    cache[kind] = {};
  }
#endif
}

void drain_core_depot() noexcept {
#if !CORIO_SANITIZED
  for (unsigned kind = 0; kind < 2; ++kind) {
    void* batches = nullptr;
    {
      std::lock_guard lock(depot_mutex());
      batches = std::exchange(depot_head[kind], nullptr);
      depot_batches[kind] = 0;
    }
    while (batches) {  // freed outside the lock
      void* next = next_batch(batches);
      free_storage(batches, kind);
      batches = next;
    }
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
  // io_uring: buffers received ahead of a read that never came.
  if (multishot_recv* m = kept_receive(*s)) {
    for (pooled_block* b = m->head; b;) {
      pooled_block* next = b->next;
      b->next = nullptr;
      release_pooled(b);
      b = next;
    }
  }
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
