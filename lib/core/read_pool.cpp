// lib/core/read_pool.cpp: the per-thread pool of receive buffers, and the
// release of every pooled buffer (lib/core/read_pool.hpp).
//
// Blocks go back to the free list of the thread that releases them (a
// worker's, where the next read takes them; no lock). A read takes a block
// only when data has arrived and gives it to its coroutine, which usually
// releases it on the same worker. Where it does not (on IOCP a coroutine
// resumes on whichever worker took its packet, so blocks drift from one
// worker's list to another's), whole batches move between threads through a
// shared depot, one lock per batch, never per read, as socket cores do
// (lib/net/socket_core.cpp). So steady-state reads allocate nothing
// (tests/alloc). A thread keeps at most two batches and the depot
// `depot_limit` batches: a burst of traffic does not stay resident. Off a
// worker (a thread that is not the runtime's) a released block is freed at
// once.
#include "core/read_pool.hpp"

#include <mutex>
#include <new>
#include <utility>

#include "core/sanitized.hpp"
#include "core/worker.hpp"

namespace corio::detail {

namespace {

#if CORIO_SANITIZED
// Under a sanitizer nothing is kept, so a use after release is reported.
constexpr unsigned batch = 0;
#else
// 16 blocks of 16 KiB (256 KiB) move at a time.
constexpr unsigned batch = 16;
#endif
// A thread keeps at most two batches (512 KiB); the depot at most 16
// batches (4 MiB) for all threads.
constexpr unsigned local_limit = 2 * batch;
constexpr unsigned depot_limit = 16 * batch;

struct free_list {
  pooled_block* head = nullptr;
  unsigned size = 0;
};
// Trivially destructible (no thread-exit destructor: MinGW runs those under
// the loader lock); a worker drains its list as it ends.
constinit thread_local free_list kept;

// The depot: never destroyed (blocks may be released during static
// destruction); what it holds at exit goes back with the process.
constinit free_list depot;  // guarded by depot_mutex()
std::mutex& depot_mutex() noexcept {
  // Not constinit: std::mutex has no constant initializer with winpthreads.
  alignas(std::mutex) static unsigned char storage[sizeof(std::mutex)];
  static std::mutex& mu = *::new (storage) std::mutex;
  return mu;
}

// A block and its buffer in one allocation: the header first, the bytes
// after it.
pooled_block* allocate_block() noexcept {
  void* p = ::operator new(sizeof(pooled_block) + pooled_buffer_size, std::nothrow);
  if (!p) return nullptr;
  auto* b = ::new (p) pooled_block;
  b->data = reinterpret_cast<std::byte*>(b + 1);
  b->capacity = pooled_buffer_size;
  return b;
}

void free_block(pooled_block* b) noexcept {
  b->~pooled_block();
  ::operator delete(b, std::nothrow);
}

// Moves up to `n` blocks from the head of `from` to the head of `to`.
void move_blocks(free_list& from, free_list& to, unsigned n) noexcept {
  for (; n > 0 && from.head; --n) {
    pooled_block* b = from.head;
    from.head = b->next;
    --from.size;
    b->next = to.head;
    to.head = b;
    ++to.size;
  }
}

}  // namespace

pooled_block* take_pool_block() noexcept {
  if (!kept.head && batch > 0) {
    std::lock_guard lock(depot_mutex());
    move_blocks(depot, kept, batch);
  }
  if (pooled_block* b = kept.head) {
    kept.head = b->next;
    --kept.size;
    b->next = nullptr;
    return b;
  }
  return allocate_block();
}

void release_pooled(pooled_block* b) noexcept {
  if (b->home) {
    b->home->give_back(b->home, b);
    return;
  }
  if (batch == 0 || !worker::current()) {
    free_block(b);
    return;
  }
  b->next = kept.head;
  kept.head = b;
  if (++kept.size <= local_limit) return;
  // Two batches and one block: one batch goes to the depot, or is freed
  // when the depot is full.
  free_list spill;
  move_blocks(kept, spill, batch);
  {
    std::lock_guard lock(depot_mutex());
    if (depot.size + batch <= depot_limit) {
      move_blocks(spill, depot, batch);
      return;
    }
  }
  while (pooled_block* f = spill.head) {
    spill.head = f->next;
    free_block(f);
  }
}

void drain_read_pool() noexcept {
  while (pooled_block* b = kept.head) {
    kept.head = b->next;
    free_block(b);
  }
  kept.size = 0;
}

void drain_read_depot() noexcept {
  free_list all;
  {
    std::lock_guard lock(depot_mutex());
    all = std::exchange(depot, free_list{});
  }
  while (pooled_block* b = all.head) {  // freed outside the lock
    all.head = b->next;
    free_block(b);
  }
}

}  // namespace corio::detail
