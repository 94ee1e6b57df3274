// lib/core/read_pool.cpp: the per-thread pool of receive buffers, and the
// release of every pooled buffer (lib/core/read_pool.hpp).
//
// Blocks go back to the free list of the thread that releases them (a
// worker's, where the next read takes them; no lock, no cross-thread
// list). A read takes a block only when data has arrived and gives it to
// its coroutine, which usually releases it on the same worker before its
// next read, so the lists stay balanced and steady-state reads allocate
// nothing (tests/alloc). Each thread keeps at most `kept_blocks`: a burst
// of traffic does not stay resident. Off a worker (a thread that is not the
// runtime's) a released block is freed at once.
#include "core/read_pool.hpp"

#include <new>

#include "core/sanitized.hpp"
#include "core/worker.hpp"

namespace corio::detail {

namespace {

// 32 blocks of 16 KiB: 512 KiB per worker at most.
#if CORIO_SANITIZED
// Under a sanitizer nothing is kept, so a use after release is reported.
constexpr unsigned kept_blocks = 0;
#else
constexpr unsigned kept_blocks = 32;
#endif

// Trivially destructible (no thread-exit destructor: MinGW runs those under
// the loader lock); a worker drains its list as it ends.
struct free_list {
  pooled_block* head = nullptr;
  unsigned size = 0;
};
constinit thread_local free_list kept;

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

}  // namespace

pooled_block* take_pool_block() noexcept {
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
  if (kept.size < kept_blocks && worker::current()) {
    b->next = kept.head;
    kept.head = b;
    ++kept.size;
    return;
  }
  free_block(b);
}

void drain_read_pool() noexcept {
  while (pooled_block* b = kept.head) {
    kept.head = b->next;
    free_block(b);
  }
  kept.size = 0;
}

}  // namespace corio::detail
