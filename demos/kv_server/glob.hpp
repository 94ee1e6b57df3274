// demos/kv_server/glob.hpp: Redis's glob-style pattern matching (KEYS,
// SCAN MATCH, PSUBSCRIBE).
#pragma once

#include <string_view>

namespace kv {

/// True when `s` matches `pattern` the way Redis's stringmatchlen does:
/// `*` any run, `?` one byte, `[abc]` `[^abc]` `[a-z]` a set, `\x` a literal x.
/// Case-sensitive; iterative with bounded backtracking (one star at a time),
/// so no pattern makes it take more than O(len(s) * len(pattern)).
bool glob_match(std::string_view pattern, std::string_view s) noexcept;

}  // namespace kv
