// lib/core/shuffle.hpp: schedule shaking (docs/fault-injection.md). When a
// seed is set (CORIO_SHUFFLE_SEED, CORIO_SHUFFLE=1, or
// testing::set_schedule_shuffle), every batch of ready coroutines and of
// completions runs in a random order drawn from that seed, so code that
// depends on an order the runtime never promised fails in tests rather than
// in production. Off, each batch costs one relaxed load.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace corio::detail {

// The seed; 0: off.
inline std::atomic<std::uint64_t> shuffle_seed{0};

inline bool shuffling() noexcept { return shuffle_seed.load(std::memory_order_relaxed) != 0; }

// The calling thread's next pseudo-random number, from a generator seeded
// by the seed and the thread's worker index.
std::uint64_t shuffle_next() noexcept;

// Puts `first[0..n)` in a random order (Fisher-Yates) when shuffling is on.
template <class T>
void shuffle_batch(T* first, std::size_t n) noexcept {
  if (n < 2 || !shuffling()) [[likely]] return;
  for (std::size_t i = n - 1; i > 0; --i) {
    std::swap(first[i], first[shuffle_next() % (i + 1)]);
  }
}

// Reads CORIO_SHUFFLE_SEED / CORIO_SHUFFLE once per process.
void load_shuffle_from_env() noexcept;

}  // namespace corio::detail
