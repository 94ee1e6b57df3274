// lib/core/task_registry.hpp: reading the list of task frames (CORIO_TASK_TRACKING).
#pragma once

#include <vector>

#include "corio/detail/task_tracking.hpp"
#include "corio/dump.hpp"

namespace corio::detail {

// Any thread: appends every registered task to `out`.
void collect_tasks(std::vector<task_info>& out);

}  // namespace corio::detail
