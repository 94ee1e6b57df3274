// lib/core/memory.cpp: see corio/memory.hpp.
#include "corio/memory.hpp"

#include "core/read_pool.hpp"
#include "corio/detail/frame_cache.hpp"
#include "sys/socket.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace corio {

void release_free_memory() noexcept {
  detail::sys::drain_core_depot();
  detail::sys::drain_core_cache();
  detail::drain_frame_cache();
  detail::drain_read_depot();
  detail::drain_read_pool();
#if defined(__GLIBC__)
  (void)::malloc_trim(0);
#endif
}

}  // namespace corio
