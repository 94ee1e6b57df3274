#!/usr/bin/env bash
# The kv server on Windows, under Wine: kv_server.exe (IOCP) answers the
# host's redis-cli and a bounded redis-benchmark run (every test of the
# performance table). Passes when every reply is right and redis-benchmark
# reports each test without errors.
# Usage: kv_wine.sh WINE_RUN PREFIX SERVER_EXE
set -u
run=$1 prefix=$2 server=$3
# shellcheck source=scripts/demo_process.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/demo_process.sh"
out=$(mktemp)
trap 'kill $pid 2>/dev/null; rm -f "$out" "$out.bench"' EXIT
"$run" "$prefix" "$server" --port 0 --threads 2 >"$out" 2>&1 &
pid=$!
port=$(port_of "$out" $pid kv_server.exe) || exit 1
fail=0
expect() {  # want, redis-cli args...
  local want=$1; shift
  local got; got=$(timeout 30 redis-cli -p "$port" "$@" 2>&1)
  if [ "$got" != "$want" ]; then echo "redis-cli $*: got '$got', want '$want'"; fail=1; fi
}
expect PONG PING
expect OK SET k "hello wine"
expect "hello wine" GET k
expect 5 INCRBY n 5
expect 1 EXPIRE k 100
# TTL rounds to whole seconds: 100, or 99 once half a second has passed
# (Wine on a loaded machine).
ttl=$(timeout 30 redis-cli -p "$port" TTL k 2>&1)
case "$ttl" in 99|100) ;; *) echo "redis-cli TTL k: got '$ttl', want 99 or 100"; fail=1 ;; esac
timeout 200 redis-benchmark -p "$port" -c 20 -n 1000 -t ping,set,get,incr,mset -q 2>&1 |
  tr '\r' '\n' | sed 's/^ *//' >"$out.bench"  # -q redraws progress lines with \r
for t in PING_INLINE PING_MBULK SET GET INCR "MSET (10 keys)"; do
  grep -F "$t: " "$out.bench" | grep -q ' requests per second' || { echo "redis-benchmark: no $t"; fail=1; }
done
if grep -qE 'ERR|WARNING' "$out.bench"; then echo "redis-benchmark reported errors"; fail=1; fi
if [ $fail -ne 0 ]; then cat "$out" "$out.bench"; exit 1; fi
grep ' requests per second' "$out.bench"
