#!/usr/bin/env bash
# scripts/soak.sh [seconds]: echo_server and chat_server under many clients
# while faults are injected below their loops at a seeded random rate
# (CORIO_FAULTS, docs/fault-injection.md), on each backend: uring and epoll
# (the Linux servers), iocp (the Windows servers of a mingw build, under
# Wine, with the same Linux soak_client). `seconds` (default 50) is the load
# time per backend, split between the two servers.
#
# Checked, per server and backend:
#   - every byte echoed (every chat line delivered, in order) or its
#     connection ended with an error: soak_client verifies each one;
#   - no connection stuck (nothing moved for 10 s): no operation pending
#     past its time;
#   - no descriptor leaked: /proc/PID/fd counted before the clients and
#     after each round of them has gone, and no more after the second round
#     than after the first (iocp: the descriptors of the Wine prefix's
#     wineserver, which holds the Unix socket behind every Windows socket
#     handle; the prefix is the soak's own, so no other program's handles
#     are counted. The .exe's own /proc/PID/fd does not follow its sockets);
#   - no unbounded memory growth: RSS after a second round of load within
#     32 MiB of RSS after the first (iocp: the Wine process's RSS, which
#     holds the Windows heap);
#   - a clean exit (status 0) within 15 s of SIGINT (iocp: Wine turns the
#     SIGINT into the console's CTRL_C_EVENT).
#
# Environment: SOAK_BUILD (a build folder with echo_server, chat_server and
# tests/soak_client; default build/test-plain), SOAK_BACKENDS (default
# "uring epoll"), SOAK_SEED (default: random; printed), SOAK_RATE (default
# 0.001: the chance that any one occurrence of a site fails), SOAK_CLIENTS
# (default 24 connections per server). For iocp: SOAK_WINDOWS_BUILD (a
# mingw build folder with demos/echo_server.exe and demos/chat_server.exe;
# default build/test-mingw), SOAK_WINEPREFIX (default
# $SOAK_WINDOWS_BUILD/wineprefix-soak; made on first use, tens of seconds)
# and SOAK_CLIENT (a Linux soak_client; default $SOAK_BUILD/tests/soak_client).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-50}
build=${SOAK_BUILD:-build/test-plain}
backends=${SOAK_BACKENDS:-uring epoll}
seed=${SOAK_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}
rate=${SOAK_RATE:-0.001}
clients=${SOAK_CLIENTS:-24}
client=${SOAK_CLIENT:-$build/tests/soak_client}
windows=${SOAK_WINDOWS_BUILD:-build/test-mingw}
wine_run=$PWD/scripts/wine-run.sh

[ -x "$client" ] || { echo "soak: $client is missing (build soak_client: a Linux build with tests)" >&2; exit 2; }
for backend in $backends; do
  if [ "$backend" = iocp ]; then
    bins=("$windows/demos/echo_server.exe" "$windows/demos/chat_server.exe")
    command -v wine >/dev/null || { echo "soak: iocp needs wine" >&2; exit 2; }
  else
    bins=("$build/demos/echo_server" "$build/demos/chat_server")
  fi
  for bin in "${bins[@]}"; do
    [ -f "$bin" ] || { echo "soak: $bin is missing (build the demos for $backend)" >&2; exit 2; }
  done
done
if [[ " $backends " == *" iocp "* ]]; then
  prefix=${SOAK_WINEPREFIX:-$windows/wineprefix-soak}
  mkdir -p "$(dirname "$prefix")"
  prefix=$(cd "$(dirname "$prefix")" && pwd)/$(basename "$prefix")
fi

echo "soak: seed $seed, fault rate $rate, $seconds s per backend ($backends), $clients clients"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# The wineserver of $prefix (the one whose environment names it).
wineserver_pid() {
  local p
  for p in $(pgrep -x wineserver64; pgrep -x wineserver); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "WINEPREFIX=$prefix" && { echo "$p"; return; }
  done
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# The descriptor count of $1 once it has held still for $2 checks, 0.5 s
# apart (up to 15 s: a fresh wineserver is still booting Wine's own
# processes, which open and close handles for a few seconds).
steady_fds() {
  local n m i still=0
  n=$(fd_count "$1")
  for i in $(seq 30); do
    [ "$still" -ge "$2" ] && break
    sleep 0.5
    m=$(fd_count "$1")
    if [ "$m" -eq "$n" ]; then still=$((still + 1)); else still=0; n=$m; fi
  done
  echo "$n"
}

# Waits up to 10 s for the descriptor count of $1 to come down to $2 (the
# connections the clients just closed are closed by the server as it sees
# each EOF); prints the last count.
settled_fds() {
  local pid=$1 want=$2 n i
  for i in $(seq 50); do
    n=$(fd_count "$pid")
    [ "$n" -le "$want" ] && break
    sleep 0.2
  done
  echo "$n"
}

# soak_one BACKEND NAME MODE SECONDS [SERVER ARGS...]: one server under
# load, checked.
soak_one() {
  local backend=$1 name=$2 mode=$3 secs=$4; shift 4
  local out=$work/$name.$backend.out err=$work/$name.$backend.err
  local half; half=$(awk -v s="$secs" 'BEGIN { h = s / 2; if (h < 1) h = 1; print h }')
  local failed="" tries=100
  if [ "$backend" = iocp ]; then
    # Wine's PID is the .exe's: wine-run.sh execs wine, which execs its
    # loader. Wine starts slowly (the first use makes the prefix).
    CORIO_FAULTS="rate=$rate,seed=$seed" \
      "$wine_run" "$prefix" "$windows/demos/$name.exe" --port 0 --threads 2 "$@" >"$out" 2>"$err" &
    tries=900
  else
    CORIO_BACKEND=$backend CORIO_FAULTS="rate=$rate,seed=$seed" \
      "$build/demos/$name" --port 0 --threads 2 "$@" >"$out" 2>"$err" &
  fi
  local pid=$! port="" i
  for i in $(seq $tries); do
    port=$(grep -oE 'listening on [^ ]*:[0-9]+' "$out" 2>/dev/null | grep -oE '[0-9]+$')
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "soak: $name ($backend) did not start" >&2
    tail -5 "$err" >&2
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return 1
  fi
  # Whose descriptors are counted: the server's, or under Wine its
  # wineserver's (see the top).
  local fd_pid=$pid
  if [ "$backend" = iocp ]; then
    fd_pid=$(wineserver_pid)
    if [ -z "$fd_pid" ]; then
      echo "soak: no wineserver for $prefix" >&2
      kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      return 1
    fi
  fi
  local still=1
  [ "$backend" = iocp ] && still=4
  local fds0; fds0=$(steady_fds "$fd_pid" "$still")
  local round rss1=0 rss2=0 fds fds1=0
  for round in 1 2; do
    if ! "$client" --mode "$mode" --port "$port" --connections "$clients" --duration "$half" \
        --seed "$((seed + round))" >"$work/client.out" 2>&1; then
      failed+=" client-round-$round"
    fi
    echo "  $name ($backend) round $round: $(grep '^SOAK' "$work/client.out")"
    grep '^first problem' "$work/client.out" | sed 's/^/    /'
    settled_fds "$fd_pid" "$fds0" >/dev/null
    fds=$(steady_fds "$fd_pid" "$still")
    [ "$fds" -gt "$fds0" ] && failed+=" fd-leak($fds0->$fds)"
    # Round over round too: a leak on a path the load takes grows with it.
    [ "$round" = 2 ] && [ "$fds" -gt "$fds1" ] && failed+=" fd-growth(round 1 $fds1->$fds)"
    fds1=$fds
    if [ "$round" = 1 ]; then rss1=$(rss_kib "$pid"); else rss2=$(rss_kib "$pid"); fi
  done
  [ "$rss2" -gt $((rss1 + 32 * 1024)) ] && failed+=" rss-growth(${rss1}KiB->${rss2}KiB)"
  kill -INT "$pid"
  local code=""
  for i in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; code=$?; break; }
    sleep 0.1
  done
  if [ -z "$code" ]; then
    failed+=" no-exit-after-SIGINT"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  elif [ "$code" -ne 0 ]; then
    failed+=" exit-status-$code"
  fi
  echo "  $name ($backend): fds $fds0 -> $fds, rss ${rss1} -> ${rss2} KiB, exit ${code:-killed}${failed:+, FAILED:$failed}"
  if [ -n "$failed" ]; then
    tail -5 "$err" | sed 's/^/    server: /' >&2
    return 1
  fi
  return 0
}

for backend in $backends; do
  half=$(awk -v s="$seconds" 'BEGIN { print s / 2 }')
  ok=1
  soak_one "$backend" echo_server echo "$half" --grace 2 || ok=0
  soak_one "$backend" chat_server chat "$half" || ok=0
  if [ $ok -eq 1 ]; then
    echo "soak $backend: passed"
  else
    where=""
    [ "$backend" = iocp ] && where="SOAK_WINDOWS_BUILD=$windows SOAK_CLIENT=$client "
    echo "soak $backend: FAILED; reproduce with: ${where}SOAK_SEED=$seed SOAK_RATE=$rate SOAK_BACKENDS=$backend scripts/soak.sh $seconds"
    status=1
  fi
done
exit $status
