#!/usr/bin/env bash
# scripts/wine-run.sh PREFIX PROGRAM [ARGS...]
#
# Runs a Windows program under Wine, quietly, in the Wine prefix PREFIX
# (created on first use). The mingw-w64 toolchain file makes this CMake's
# cross-compiling emulator, so gtest_discover_tests lists the tests of a .exe
# at build time and ctest runs each test through it. The program's exit
# status is this script's.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 PREFIX PROGRAM [ARGS...]" >&2
  exit 2
fi
export WINEPREFIX=$1
shift
export WINEDEBUG=-all                      # no fixme/err chatter on stderr
export WINEDLLOVERRIDES="mscoree,mshtml="  # never offer to install Mono or Gecko
export WINEARCH=win64

mkdir -p "$(dirname "$WINEPREFIX")"
(
  # Tests start in parallel: one of them sets things up, the others wait.
  flock 9
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    # The first start builds the prefix (slow: tens of seconds).
    wineboot --init </dev/null >/dev/null 2>&1 9>&-
    wineserver --wait 9>&-
  fi
  # One wineserver for a whole test run, lingering a minute after its last
  # client (with the default 3 s, a test that starts just as the server
  # exits fails with "wine client error: recvmsg: Connection reset by
  # peer"). Status 0: this call started it; 2: one is running already.
  # (9>&- everywhere: what Wine starts here outlives this script, and must
  # not inherit the lock.)
  if wineserver -p"${CORIO_WINESERVER_LINGER:-60}" </dev/null >/dev/null 2>&1 9>&-; then
    # A fresh server boots Wine's own processes (services.exe, winedevice.exe,
    # rpcss.exe, ...), which live as long as the server. Boot them here, with
    # /dev/null for output: started by a test, they would inherit its output
    # pipe, and ctest would wait for that pipe to close, long after the test.
    wineboot </dev/null >/dev/null 2>&1 9>&- || true
  fi
) 9>"$WINEPREFIX.lock"

exec wine "$@"
