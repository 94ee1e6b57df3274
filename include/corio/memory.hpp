// corio/memory.hpp: handing memory that nothing uses back to the system.
#pragma once

namespace corio {

/// Gives back memory that corio and the C library keep for reuse: the
/// freed socket state and pooled read buffers (read_pooled) that every
/// thread handed to corio's shared depots, the calling thread's cached
/// coroutine frames, socket state and pooled read buffers, and then, on
/// glibc, the heap's free pages (malloc_trim, over every arena).
///
/// Why: corio keeps freed per-connection state for the next connection
/// (lesson 5: no allocation per connection), and glibc keeps freed memory
/// in its arenas; after a wave of thousands of connections has come and
/// gone, the kept pieces, scattered over the heap, keep it resident. Call
/// this after such a wave (a server does when its open connections fall
/// well below their peak), not per connection: it takes the allocator's
/// locks and walks its free lists. Any thread; the next connections
/// allocate again until the caches refill.
void release_free_memory() noexcept;

}  // namespace corio
