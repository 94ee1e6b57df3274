// demos/common/lent_buffer.hpp: a buffer borrowed from the current thread
// only while data moves, so that an idle connection holds none.
#pragma once

#include <array>
#include <cstddef>
#include <span>

namespace demo {

#if defined(__SANITIZE_ADDRESS__)
// Under AddressSanitizer nothing is kept: a worker's kept blocks would be
// reported as leaks when it exits, and a use after free would be hidden.
inline constexpr std::size_t lent_blocks_kept = 0;
#else
inline constexpr std::size_t lent_blocks_kept = 16;
#endif

/// A block of `Size` bytes lent by the calling thread's free list (or
/// allocated when the list is empty) and given back, on destruction, to the
/// list of the thread it is destroyed on (on IOCP a coroutine may resume on
/// another worker). Each list keeps at most 16 blocks, so a burst of
/// traffic does not stay resident. The pattern: wait with wait_readable()
/// (no buffer pinned while idle), then borrow one of these for the read.
template <std::size_t Size>
class lent_buffer {
 public:
  using block = std::array<std::byte, Size>;
  lent_buffer() : b_(take()) {}
  lent_buffer(const lent_buffer&) = delete;
  lent_buffer& operator=(const lent_buffer&) = delete;
  ~lent_buffer() {
    if (kept.size < lent_blocks_kept) {
      kept.blocks[kept.size++] = b_;
    } else {
      delete b_;
    }
  }
  /// The lent bytes.
  std::span<std::byte, Size> bytes() noexcept { return *b_; }

 private:
  // Plain pointers, so no destructor runs at thread exit (MinGW runs those
  // under the loader lock, where they can deadlock): the few blocks a
  // thread keeps go back with the process.
  struct free_list {
    std::array<block*, 16> blocks{};  // the first lent_blocks_kept are used
    std::size_t size = 0;
  };
  static constinit inline thread_local free_list kept{};

  static block* take() { return kept.size ? kept.blocks[--kept.size] : new block; }
  block* b_;
};

}  // namespace demo
