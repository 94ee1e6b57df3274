#!/usr/bin/env bash
# The whole test command: installs what is missing, builds every test build,
# runs the portable suite on each backend, and ends with one line per
# backend: "uring: N passed, M failed".
#   plain build        uring, epoll  (+ the find_package consumer check, and
#                      scripts/soak.sh as the tests uring.soak and epoll.soak)
#   mingw build        iocp, under Wine (+ scripts/soak.sh as the test
#                      iocp.soak, loaded by the plain build's soak_client)
#   asan+ubsan build   uring, epoll  (schedule shaking on: CORIO_SHUFFLE=1)
#   tsan build         uring, epoll
# Each build's tests run while the next build compiles (on two cores that
# saves a third of the time); a build's report is printed when its tests
# end. Build folders are reused between runs (build/test-*); each build's
# full ctest output is kept in build/test-NAME.LABEL.log. Exit status is 0
# only if every test passed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test || exit 1

jobs=${CORIO_JOBS:-$(nproc)}
fail_build=0
t0=$SECONDS
stamp() { printf '[%2d:%02d]' $(( (SECONDS - t0) / 60 )) $(( (SECONDS - t0) % 60 )); }

configure_build() {  # name, extra cmake args...
  local dir=build/test-$1; shift
  echo "$(stamp) == build $dir" >&2
  cmake -S . -B "$dir" -G Ninja -DCORIO_BUILD_DEMOS=ON -DCORIO_BUILD_TESTS=ON -DCORIO_WERROR=ON "$@" \
    > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log" >&2; return 1; }
  cmake --build "$dir" -j "$jobs" > "$dir.build.log" 2>&1 || { tail -50 "$dir.build.log" >&2; return 1; }
}

# Runs ctest for one label; prints "WHAT: N passed, M failed" (with each
# failed test's failure lines) and appends "LABEL N M" to the build's
# counts file.
run_label() {  # build name, label, what to print [extra ctest args]
  local dir=build/test-$1 label=$2 what=$3 log=build/test-$1.$2.log
  ctest --test-dir "$dir" -L "^$label\$" -j "$jobs" --output-on-failure --timeout 120 "${@:4}" \
    > "$log" 2>&1
  local total fails
  total=$(grep -oE 'out of [0-9]+' "$log" | grep -oE '[0-9]+' | tail -1)
  fails=$(grep -oE '[0-9]+ tests failed' "$log" | grep -oE '^[0-9]+' | tail -1)
  total=${total:-0}; fails=${fails:-0}
  if [ "$total" -eq 0 ]; then fails=1; echo "$what: no tests ran (see $log)"; fi
  if [ "$fails" -ne 0 ]; then
    # The failed tests, then what each printed about its failure.
    sed -n '/The following tests FAILED/,$p' "$log" | grep -E '^\s+[0-9]+ - ' | head -20
    grep -E -A6 ': Failure$|\*\*\*(Failed|Timeout|Exception)|watchdog|ERROR: |Sanitizer' "$log" \
      | grep -v 'Skipped' | head -80
    echo "(whole output: $log)"
  fi
  echo "$(stamp) $what: $((total - fails)) passed, $fails failed"
  echo "$label $((total - fails)) $fails" >> "build/test-$1.counts"
}

plain_tests() {
  run_label plain uring "uring (plain)"
  run_label plain epoll "epoll (plain)"
}
mingw_tests() {
  # Wine now and then fails to start a process at all (no output, no test
  # run); such a test gets one more try. A test that fails twice fails.
  WINEDEBUG=-all WINEPREFIX=$PWD/build/test-mingw/wineprefix \
    run_label mingw iocp "iocp (wine)" --repeat until-pass:2
}
asan_tests() {
  # Schedule shaking (docs/fault-injection.md): each test process draws a
  # seed and prints it with any failure (CORIO_SHUFFLE_SEED=N replays it).
  CORIO_SHUFFLE=1 run_label asan uring "uring (asan+ubsan, shuffled)"
  CORIO_SHUFFLE=1 run_label asan epoll "epoll (asan+ubsan, shuffled)"
}
tsan_tests() {
  run_label tsan uring "uring (tsan)"
  run_label tsan epoll "epoll (tsan)"
}

# One build's tests at a time run in the background, beside the next build;
# their report is printed whole when they end.
testing_pid=0
finish_tests() {
  [ "$testing_pid" -ne 0 ] || return 0
  wait "$testing_pid"
  testing_pid=0
}
start_tests() {  # build name
  finish_tests
  rm -f "build/test-$1.counts"
  { "$1_tests" > "build/test-$1.report" 2>&1; cat "build/test-$1.report"; } &
  testing_pid=$!
}
build_and_test() {  # build name, cmake args...
  local name=$1; shift
  if configure_build "$name" "$@"; then start_tests "$name"; else fail_build=1; fi
}

# Line tables (-g1) are enough for a failing test's backtrace and halve the
# compile time of these coroutine-heavy files; the sanitizer builds use -O1,
# as the sanitizers recommend (a third of the -O2 -g compile time).
release=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
# The Windows build has no debug information: nothing reads it under Wine,
# it costs 40% of that build's compile time, and mingw-w64's GCC 12 crashes
# (an internal compiler error in fmt's bigint) at -O2 -g1.
windows=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g0 -DNDEBUG")

mkdir -p build
build_and_test plain "${release[@]}"
build_and_test mingw "${windows[@]}" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw-w64-x86_64.cmake \
  "-DCORIO_SOAK_CLIENT=$PWD/build/test-plain/tests/soak_client"
build_and_test asan "${sanitized[@]}" -DCORIO_SANITIZE=address,undefined
build_and_test tsan "${sanitized[@]}" -DCORIO_SANITIZE=thread
finish_tests

status=$fail_build
[ $fail_build -ne 0 ] && echo "a build failed (see above)" >&2
declare -A passed failed
for name in plain mingw asan tsan; do
  [ -f "build/test-$name.counts" ] || continue
  while read -r label p f; do
    passed[$label]=$(( ${passed[$label]:-0} + p ))
    failed[$label]=$(( ${failed[$label]:-0} + f ))
  done < "build/test-$name.counts"
done
echo "$(stamp) done"
for b in uring epoll iocp; do
  echo "$b: ${passed[$b]:-0} passed, ${failed[$b]:-0} failed"
  [ "${failed[$b]:-0}" -ne 0 ] || [ "${passed[$b]:-0}" -eq 0 ] && status=1
done
exit $status
