#!/usr/bin/env bash
# The main demo: installs what is missing, builds, starts echo_server on a
# free loopback port and runs the echo_client load generator against it,
# which prints throughput and latency percentiles.
# Usage: scripts/demo.sh [seconds] [connections] [message-size]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/demo_process.sh
. scripts/demo_process.sh
seconds=${1:-5}
connections=${2:-64}
size=${3:-64}
bash scripts/setup.sh demo

dir=build/demo
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCORIO_BUILD_TESTS=OFF -DCORIO_BUILD_DEMOS=ON >/dev/null
cmake --build "$dir" -j "$(nproc)" --target echo_server echo_client chat_server chat_client >/dev/null

out=$(mktemp)
"$dir/demos/echo_server" --port 0 --threads 1 >"$out" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$out"' EXIT
port=$(port_of "$out" $server echo_server) || exit 1
cat "$out"
"$dir/demos/echo_client" --port "$port" --threads 1 --connections "$connections" \
  --size "$size" --duration "$seconds"
