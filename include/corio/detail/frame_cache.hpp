// corio/detail/frame_cache.hpp: where corio's coroutine frames come from.
#pragma once

#include <cstddef>

namespace corio::detail {

/// A coroutine frame of `size` bytes. Frames up to 2 KiB come from a small
/// per-thread cache of freed frames (as Asio recycles its awaitable frames),
/// so a coroutine called per message, once warm, allocates nothing; larger
/// ones, and all of them under a sanitizer, come from operator new. Throws
/// std::bad_alloc like operator new.
void* allocate_frame(std::size_t size);
/// Gives back a frame from allocate_frame(size), on any thread.
void free_frame(void* frame, std::size_t size) noexcept;
/// Frees the frames the calling thread keeps; a runtime worker calls it as
/// it ends.
void drain_frame_cache() noexcept;

/// For the promise types of corio's coroutines.
struct cached_frame {
  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { free_frame(frame, size); }
};

}  // namespace corio::detail
