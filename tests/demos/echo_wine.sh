#!/usr/bin/env bash
# The echo demo on Windows, under Wine: echo_server.exe serves 8
# connections (--max-connections, so it exits by itself), echo_client.exe
# sends 200 verified messages on each. Passes when both exit 0.
# Usage: echo_wine.sh WINE_RUN PREFIX SERVER_EXE CLIENT_EXE
set -u
run=$1 prefix=$2 server=$3 client=$4
# shellcheck source=scripts/demo_process.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/demo_process.sh"
out=$(mktemp)
trap 'rm -f "$out" "$out.client"' EXIT
"$run" "$prefix" "$server" --port 0 --threads 2 --max-connections 8 >"$out" 2>&1 &
pid=$!
port=$(port_of "$out" $pid echo_server.exe) || { kill $pid 2>/dev/null; exit 1; }
timeout 120 "$run" "$prefix" "$client" --port "$port" --threads 2 --connections 8 \
  --messages 200 --duration 60 >"$out.client" 2>&1
client_rc=$?
exit_of $pid
server_rc=$?
grep RESULT "$out.client"
if [ $client_rc -ne 0 ] || [ $server_rc -ne 0 ]; then
  echo "client exit $client_rc, server exit $server_rc"; cat "$out" "$out.client"; exit 1
fi
