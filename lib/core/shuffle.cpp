// lib/core/shuffle.cpp: schedule shaking's seed and generators.
#include "core/shuffle.hpp"

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/log.hpp"
#include "core/worker.hpp"
#include "corio/testing.hpp"

namespace corio::detail {

namespace {

std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct generator {
  std::uint64_t seed = 0;   // the seed this state was drawn from
  std::uint64_t state = 0;
};
constinit thread_local generator tls_generator;

}  // namespace

std::uint64_t shuffle_next() noexcept {
  const std::uint64_t seed = shuffle_seed.load(std::memory_order_relaxed);
  auto& g = tls_generator;
  if (g.seed != seed) {
    // Each worker its own stream, so a seed replays each worker's choices.
    const worker* w = worker::current();
    g.seed = seed;
    g.state = mix(seed ^ (w ? 0x1000 + w->index() : 0));
  }
  g.state += 0x9E3779B97F4A7C15ull;
  return mix(g.state);
}

void load_shuffle_from_env() noexcept {
  static const bool loaded = [] {
    std::uint64_t seed = 0;
    if (const char* s = std::getenv("CORIO_SHUFFLE_SEED"); s && *s) {
      const char* end = s + std::strlen(s);
      if (std::from_chars(s, end, seed).ptr != end) seed = 0;
    }
    if (const char* on = std::getenv("CORIO_SHUFFLE"); seed == 0 && on && *on && *on != '0') {
      // A fresh seed per process, printed (through the log hook and by the
      // test suite) so that a failing run can be replayed.
      const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
      seed = mix(static_cast<std::uint64_t>(t)) | 1;
    }
    if (seed != 0 && shuffle_seed.load(std::memory_order_relaxed) == 0) {
      shuffle_seed.store(seed, std::memory_order_relaxed);
      log(log_level::warning, "schedule shuffling on: CORIO_SHUFFLE_SEED=" + std::to_string(seed));
    }
    return true;
  }();
  (void)loaded;
}

}  // namespace corio::detail

void corio::testing::set_schedule_shuffle(std::uint64_t seed) noexcept {
  detail::shuffle_seed.store(seed, std::memory_order_relaxed);
}

std::uint64_t corio::testing::schedule_shuffle_seed() noexcept {
  detail::load_shuffle_from_env();
  return detail::shuffle_seed.load(std::memory_order_relaxed);
}
