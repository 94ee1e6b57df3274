// lib/core/fault.hpp: the fault-injection check every site below the loop
// makes (docs/fault-injection.md). Compiled in always; with no rule
// installed a site costs one relaxed load of a global flag, a branch the
// CPU predicts as not taken.
#pragma once

#include <atomic>

#include "corio/testing.hpp"

namespace corio::detail {

using testing::fault_site;

// True while any rule is installed (set_faults).
inline std::atomic<bool> faults_armed{false};

// The rules' verdict for one occurrence of `s` on the calling thread
// (counted, and counted as injected when it fails).
bool fault_decide(fault_site s) noexcept;

// Whether this occurrence of `s` must fail as the site's OS call would.
inline bool fault_hit(fault_site s) noexcept {
  if (!faults_armed.load(std::memory_order_relaxed)) [[likely]] return false;
  return fault_decide(s);
}

// Installs CORIO_FAULTS once per process (runtime::create calls it);
// invalid_argument when it is malformed, which fails runtime::create.
result<void> load_faults_from_env() noexcept;

}  // namespace corio::detail
