// lib/core/frame_cache.cpp: the per-thread cache of freed coroutine frames.
#include "corio/detail/frame_cache.hpp"

#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CORIO_FRAME_CACHE 0
#endif
#endif
#ifndef CORIO_FRAME_CACHE
#define CORIO_FRAME_CACHE 1  // off under sanitizers: they must see every free
#endif

namespace corio::detail {

#if CORIO_FRAME_CACHE
namespace {

// Sizes are rounded up to a granule; each granule class keeps a few freed
// frames. Bounded (16 per class: about 2 MiB per thread if every class were
// full), so a burst does not stay resident.
constexpr std::size_t granule = 16;
constexpr std::size_t largest_cached = 2048;
constexpr std::size_t classes = largest_cached / granule;
constexpr unsigned kept_per_class = 16;

struct free_frame_node {
  free_frame_node* next;
};

std::size_t class_of(std::size_t size) noexcept { return (size + granule - 1) / granule - 1; }
std::size_t class_size(std::size_t c) noexcept { return (c + 1) * granule; }

struct cache {
  free_frame_node* head[classes] = {};
  unsigned count[classes] = {};
  ~cache();
};

// Trivially destructible, so it is still readable while the thread's
// other thread_locals are destroyed: frames freed after the cache went go
// straight back to operator delete.
thread_local bool cache_gone = false;
thread_local cache frames;

cache::~cache() {
  cache_gone = true;
  for (std::size_t c = 0; c < classes; ++c) {
    while (free_frame_node* n = head[c]) {
      head[c] = n->next;
      ::operator delete(n, class_size(c));
    }
  }
}

}  // namespace

void* allocate_frame(std::size_t size) {
  if (size > largest_cached || cache_gone) return ::operator new(size);
  const std::size_t c = class_of(size);
  if (free_frame_node* n = frames.head[c]) {
    frames.head[c] = n->next;
    --frames.count[c];
    return n;
  }
  // The class's size, so that any frame of this class can reuse it.
  return ::operator new(class_size(c));
}

void free_frame(void* frame, std::size_t size) noexcept {
  if (size > largest_cached) return ::operator delete(frame, size);
  const std::size_t c = class_of(size);
  if (cache_gone || frames.count[c] == kept_per_class) return ::operator delete(frame, class_size(c));
  auto* n = static_cast<free_frame_node*>(frame);
  n->next = frames.head[c];
  frames.head[c] = n;
  ++frames.count[c];
}

#else

void* allocate_frame(std::size_t size) { return ::operator new(size); }
void free_frame(void* frame, std::size_t size) noexcept { ::operator delete(frame, size); }

#endif

}  // namespace corio::detail
