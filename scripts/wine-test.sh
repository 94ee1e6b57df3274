#!/usr/bin/env bash
# scripts/wine-test.sh [BUILD_DIR [CMAKE_ARGS...]]: the Windows side of the test suite on
# its own. Cross-compiles corio and its tests with mingw-w64 and runs the
# whole portable suite plus the IOCP tests under Wine (label "iocp"), in a
# Wine prefix inside the build folder. Installs mingw-w64 and Wine first
# when they are missing (Debian 12, as root; see scripts/setup.sh).
# scripts/test.sh runs the same build as part of the full test command.
#
#   CORIO_JOBS   parallel build and test jobs (default: nproc)
#
# Ends with "iocp (wine): N passed, M failed"; exit status 0 only if all passed.
set -uo pipefail
cd "$(dirname "$0")/.."

build=${1:-build/mingw}
[ $# -gt 0 ] && shift
extra=("$@")  # more cmake arguments, e.g. -DCORIO_WERROR=ON
jobs=${CORIO_JOBS:-$(nproc)}

if ! command -v x86_64-w64-mingw32-g++-posix >/dev/null || ! command -v wine >/dev/null; then
  bash scripts/setup.sh test || exit 1
fi

export WINEDEBUG=-all
mkdir -p "$build"
echo "== configure and build $build" >&2
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw-w64-x86_64.cmake \
  -DCORIO_BUILD_TESTS=ON "${extra[@]}" > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 1; }
# The build lists each test through Wine (gtest_discover_tests); the first
# Wine start creates the prefix, which takes a while.
cmake --build "$build" -j "$jobs" > "$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log" >&2; exit 1; }

echo "== ctest -L iocp (Wine)" >&2
start=$(date +%s)
out=$(ctest --test-dir "$build" -L '^iocp$' -j "$jobs" --output-on-failure --timeout 120 2>&1)
status=$?
total=$(grep -oE 'out of [0-9]+' <<<"$out" | grep -oE '[0-9]+' | tail -1)
fails=$(grep -oE '[0-9]+ tests failed' <<<"$out" | grep -oE '^[0-9]+' | tail -1)
total=${total:-0}; fails=${fails:-0}
if [ "$total" -eq 0 ]; then
  echo "$out" >&2
  echo "iocp (wine): no tests ran" >&2
  exit 1
fi
[ "$fails" -ne 0 ] && grep -E 'Failed|\*\*\*|watchdog|Timeout' <<<"$out" | head -40 >&2
echo "iocp (wine): $((total - fails)) passed, $fails failed ($(( $(date +%s) - start )) s)"
exit $status
