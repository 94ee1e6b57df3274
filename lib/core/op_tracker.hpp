// lib/core/op_tracker.hpp: the operations in flight, for runtime::dump()
// (runtime_options::track_operations).
//
// An operation has no room for a list link (it stays 64 bytes), and on
// IOCP it may start on one worker and complete on another. So the tracker
// keeps a table keyed by the operation's address, split in stripes that
// each have a lock (workers rarely meet on one), and puts itself in the
// operation's completion: op.complete is swapped for on_complete while the
// operation is in flight, which takes the entry out, puts the awaiter's
// completion back and calls it. The backends know nothing of it.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "corio/detail/io.hpp"
#include "corio/dump.hpp"

namespace corio::detail {

class worker;

class op_tracker {
 public:
  op_tracker();

  // Starts `op` on `w`'s backend as detail::start does, with op recorded
  // while it is in flight. Same result as backend::start.
  bool start(worker& w, operation& op) noexcept;

  // Any thread: appends every operation in flight to `out`.
  void collect(std::vector<operation_info>& out) const;

 private:
  struct entry {
    operation* op = nullptr;  // nullptr: a free slot
    void (*complete)(operation*) noexcept = nullptr;  // the awaiter's own completion
    std::int64_t since_ns = 0;
    socket_core* sock = nullptr;
    unsigned worker = 0;
    op_code code = op_code::recv;
  };
  // An open-addressing table (linear probing, deletion by backward shift),
  // at most half full; grows by doubling (only here: the untracked path
  // allocates nothing).
  struct alignas(64) stripe {
    mutable std::mutex mu;
    std::vector<entry> slots;  // guarded by mu; size a power of two
    std::size_t used = 0;      // guarded by mu
  };
  static constexpr std::size_t stripe_count = 16;

  static std::size_t hash(const operation* op) noexcept;
  stripe& stripe_of(const operation* op) noexcept { return stripes_[hash(op) % stripe_count]; }
  // Under s.mu.
  static void insert(stripe& s, const entry& e);
  static bool take(stripe& s, operation* op, entry& out) noexcept;

  // Installed as op.complete while op is in flight.
  static void on_complete(operation* op) noexcept;

  std::array<stripe, stripe_count> stripes_;
};

}  // namespace corio::detail
