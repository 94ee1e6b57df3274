#!/usr/bin/env bash
# The whole test command: installs what is missing, builds every test build
# in parallel-friendly steps, runs the portable suite on each backend, and
# ends with one line per backend: "uring: N passed, M failed".
#   plain build        uring, epoll  (+ the find_package consumer check, and
#                      scripts/soak.sh as the tests uring.soak and epoll.soak)
#   asan+ubsan build   uring, epoll  (schedule shaking on: CORIO_SHUFFLE=1)
#   tsan build         uring, epoll
#   mingw build        iocp, under Wine
# Build folders are reused between runs (build/test-*). Exit status is 0
# only if every test passed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test || exit 1

jobs=${CORIO_JOBS:-$(nproc)}
declare -A passed failed
fail_build=0

configure_build() {  # name, extra cmake args...
  local dir=build/test-$1; shift
  echo "== build $dir" >&2
  cmake -S . -B "$dir" -G Ninja -DCORIO_BUILD_DEMOS=ON -DCORIO_BUILD_TESTS=ON -DCORIO_WERROR=ON "$@" \
    > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log" >&2; return 1; }
  cmake --build "$dir" -j "$jobs" > "$dir.build.log" 2>&1 || { tail -50 "$dir.build.log" >&2; return 1; }
}

# Runs ctest for one label and adds its counts to that backend's totals.
run_label() {  # build name, label, what to print [extra ctest args]
  local dir=build/test-$1 label=$2 what=$3 out
  out=$(ctest --test-dir "$dir" -L "^$label\$" -j "$jobs" --output-on-failure --timeout 120 "${@:4}" 2>&1)
  local total fails
  total=$(grep -oE 'out of [0-9]+' <<<"$out" | grep -oE '[0-9]+' | tail -1)
  fails=$(grep -oE '[0-9]+ tests failed' <<<"$out" | grep -oE '^[0-9]+' | tail -1)
  total=${total:-0}; fails=${fails:-0}
  if [ "$total" -eq 0 ]; then fails=1; echo "$what: no tests ran" >&2; fi
  if [ "$fails" -ne 0 ]; then
    grep -E 'Failed|\*\*\*|watchdog|ERROR|Sanitizer' <<<"$out" | head -40 >&2
  fi
  echo "$what: $((total - fails)) passed, $fails failed"
  passed[$label]=$(( ${passed[$label]:-0} + total - fails ))
  failed[$label]=$(( ${failed[$label]:-0} + fails ))
}

# Line tables (-g1) are enough for a failing test's backtrace and halve the
# compile time of these coroutine-heavy files; the sanitizer builds use -O1,
# as the sanitizers recommend (a third of the -O2 -g compile time).
release=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
# mingw-w64's GCC 12 crashes (internal compiler error in fmt's bigint) at
# -O2 -g1, so the Windows build keeps full debug information.
windows=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g -DNDEBUG")

mkdir -p build
if configure_build plain "${release[@]}"; then
  run_label plain uring "uring (plain)"
  run_label plain epoll "epoll (plain)"
else fail_build=1; fi

if configure_build asan "${sanitized[@]}" -DCORIO_SANITIZE=address,undefined; then
  # Schedule shaking (docs/fault-injection.md): each test process draws a
  # seed and prints it with any failure (CORIO_SHUFFLE_SEED=N replays it).
  CORIO_SHUFFLE=1 run_label asan uring "uring (asan+ubsan, shuffled)"
  CORIO_SHUFFLE=1 run_label asan epoll "epoll (asan+ubsan, shuffled)"
else fail_build=1; fi

if configure_build tsan "${sanitized[@]}" -DCORIO_SANITIZE=thread; then
  run_label tsan uring "uring (tsan)"
  run_label tsan epoll "epoll (tsan)"
else fail_build=1; fi

export WINEDEBUG=-all WINEPREFIX=$PWD/build/test-mingw/wineprefix
if configure_build mingw "${windows[@]}" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw-w64-x86_64.cmake; then
  # Wine now and then fails to start a process at all (no output, no test
  # run); such a test gets one more try. A test that fails twice fails.
  run_label mingw iocp "iocp (wine)" --repeat until-pass:2
else fail_build=1; fi

status=$fail_build
[ $fail_build -ne 0 ] && echo "a build failed (see above)" >&2
for b in uring epoll iocp; do
  echo "$b: ${passed[$b]:-0} passed, ${failed[$b]:-0} failed"
  [ "${failed[$b]:-0}" -ne 0 ] || [ "${passed[$b]:-0}" -eq 0 ] && status=1
done
exit $status
