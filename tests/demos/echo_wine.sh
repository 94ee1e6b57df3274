#!/usr/bin/env bash
# The echo demo on Windows, under Wine: echo_server.exe serves 8
# connections (--max-connections, so it exits by itself), echo_client.exe
# sends 200 verified messages on each. Passes when both exit 0.
# Usage: echo_wine.sh WINE_RUN PREFIX SERVER_EXE CLIENT_EXE
set -u
run=$1 prefix=$2 server=$3 client=$4
out=$(mktemp)
trap 'rm -f "$out" "$out.client"' EXIT
"$run" "$prefix" "$server" --port 0 --threads 2 --max-connections 8 >"$out" 2>&1 &
pid=$!
for _ in $(seq 600); do  # Wine starts slowly; give it up to a minute
  grep -q "listening on" "$out" && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
port=$(grep -oE ':[0-9]+ ' "$out" | head -1 | tr -d ': ')
if [ -z "$port" ]; then
  echo "echo_server.exe did not start:"; cat "$out"; kill $pid 2>/dev/null; exit 1
fi
timeout 120 "$run" "$prefix" "$client" --port "$port" --threads 2 --connections 8 \
  --messages 200 --duration 60 >"$out.client" 2>&1
client_rc=$?
timeout 60 tail --pid=$pid -f /dev/null
wait $pid
server_rc=$?
grep RESULT "$out.client"
if [ $client_rc -ne 0 ] || [ $server_rc -ne 0 ]; then
  echo "client exit $client_rc, server exit $server_rc"; cat "$out" "$out.client"; exit 1
fi
