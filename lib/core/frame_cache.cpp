// lib/core/frame_cache.cpp: the per-thread cache of freed coroutine frames.
#include "corio/detail/frame_cache.hpp"

#include <new>

#include "core/sanitized.hpp"

namespace corio::detail {

#if !CORIO_SANITIZED
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
};
// Trivially destructible: no thread-exit destructor (under MinGW those run
// under the loader lock, where they can deadlock). A worker drains its
// cache as it ends (drain_frame_cache); another thread keeps its few frames
// until the process ends.
constinit thread_local cache frames;

}  // namespace

void* allocate_frame(std::size_t size) {
  if (size > largest_cached) return ::operator new(size);
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
  if (frames.count[c] == kept_per_class) return ::operator delete(frame, class_size(c));
  auto* n = static_cast<free_frame_node*>(frame);
  n->next = frames.head[c];
  frames.head[c] = n;
  ++frames.count[c];
}

void drain_frame_cache() noexcept {
  for (std::size_t c = 0; c < classes; ++c) {
    while (free_frame_node* n = frames.head[c]) {
      frames.head[c] = n->next;
      ::operator delete(n, class_size(c));
    }
    frames.count[c] = 0;
  }
}

#else

void* allocate_frame(std::size_t size) { return ::operator new(size); }
void free_frame(void* frame, std::size_t size) noexcept { ::operator delete(frame, size); }
void drain_frame_cache() noexcept {}

#endif

}  // namespace corio::detail
