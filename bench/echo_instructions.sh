#!/usr/bin/env bash
# Instructions the echo server executes per echoed message, under callgrind:
# a measure that a loaded machine does not disturb (wall-clock CPU does).
# Runs the server twice (16 connections x 300, then x 1300 messages of 64 B)
# and prints (I2 - I1) / 16000, so start-up and shutdown cancel out.
#   bench/echo_instructions.sh SERVER CLIENT [server args...]
#   bench/echo_instructions.sh build/dev/demos/echo_server build/dev/demos/echo_client --track
set -euo pipefail
server=$1 client=$2
shift 2
count() {  # messages per connection -> instructions
  local out
  out=$(mktemp -d)
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$server" --port 0 --threads 1 \
    --backend epoll --max-connections 16 "$@" >"$out/o" 2>"$out/e" &
  local vp=$! port=""
  for _ in $(seq 300); do
    port=$(grep -oP 'listening on 127\.0\.0\.1:\K\d+' "$out/o" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start" >&2; kill $vp; exit 1; }
  "$client" --port "$port" --connections 16 --messages "$msgs" --duration 600 >/dev/null 2>&1
  wait $vp
  grep -oP 'Collected : \K\d+' "$out/e"
  rm -rf "$out"
}
msgs=300; a=$(count "$@")
msgs=1300; b=$(count "$@")
echo "instructions per message: $(( (b - a) / 16000 ))"
