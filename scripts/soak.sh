#!/usr/bin/env bash
# scripts/soak.sh [seconds]: echo_server and chat_server under many clients
# while faults are injected below their loops at a seeded random rate
# (CORIO_FAULTS, docs/fault-injection.md), on each Linux backend. `seconds`
# (default 50) is the load time per backend, split between the two servers.
#
# Checked, per server and backend:
#   - every byte echoed (every chat line delivered, in order) or its
#     connection ended with an error: soak_client verifies each one;
#   - no connection stuck (nothing moved for 10 s): no operation pending
#     past its time;
#   - no descriptor leaked: /proc/PID/fd counted before the clients and
#     after they have gone;
#   - no unbounded memory growth: RSS after a second round of load within
#     32 MiB of RSS after the first;
#   - a clean exit (status 0) within 15 s of SIGINT.
#
# Environment: SOAK_BUILD (a build folder with echo_server, chat_server and
# tests/soak_client; default build/test-plain), SOAK_BACKENDS (default
# "uring epoll"), SOAK_SEED (default: random; printed), SOAK_RATE (default
# 0.001: the chance that any one occurrence of a site fails), SOAK_CLIENTS
# (default 24 connections per server).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-50}
build=${SOAK_BUILD:-build/test-plain}
backends=${SOAK_BACKENDS:-uring epoll}
seed=${SOAK_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}
rate=${SOAK_RATE:-0.001}
clients=${SOAK_CLIENTS:-24}
client=$build/tests/soak_client

for bin in "$build/demos/echo_server" "$build/demos/chat_server" "$client"; do
  [ -x "$bin" ] || { echo "soak: $bin is missing (build the demos and tests in $build)" >&2; exit 2; }
done

echo "soak: seed $seed, fault rate $rate, $seconds s per backend ($backends), $clients clients"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

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
  local failed=""
  CORIO_BACKEND=$backend CORIO_FAULTS="rate=$rate,seed=$seed" \
    "$build/demos/$name" --port 0 --threads 2 "$@" >"$out" 2>"$err" &
  local pid=$! port="" i
  for i in $(seq 100); do
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
  local fds0; fds0=$(fd_count "$pid")
  local round rss1=0 rss2=0 fds
  for round in 1 2; do
    if ! "$client" --mode "$mode" --port "$port" --connections "$clients" --duration "$half" \
        --seed "$((seed + round))" >"$work/client.out" 2>&1; then
      failed+=" client-round-$round"
    fi
    echo "  $name ($backend) round $round: $(grep '^SOAK' "$work/client.out")"
    grep '^first problem' "$work/client.out" | sed 's/^/    /'
    fds=$(settled_fds "$pid" "$fds0")
    [ "$fds" -gt "$fds0" ] && failed+=" fd-leak($fds0->$fds)"
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
    echo "soak $backend: FAILED; reproduce with: SOAK_SEED=$seed SOAK_RATE=$rate SOAK_BACKENDS=$backend scripts/soak.sh $seconds"
    status=1
  fi
done
exit $status
