#!/usr/bin/env bash
# The proxy demo on Windows, under Wine: echo_client.exe -> proxy.exe ->
# echo_server.exe, 8 connections of 200 verified messages each. The
# client's close reaches the echo server through the proxy's half-close,
# the server's close comes back the same way; the proxy exits by itself
# after 8 connections (--max-connections) with its summary. Passes when all
# three exit 0 and the summary counts 8 connections, none failed.
# Usage: proxy_wine.sh WINE_RUN PREFIX PROXY_EXE SERVER_EXE CLIENT_EXE
set -u
run=$1 prefix=$2 proxy=$3 server=$4 client=$5
# shellcheck source=scripts/demo_process.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/demo_process.sh"
out=$(mktemp)
trap 'rm -f "$out" "$out.proxy" "$out.client"' EXIT

"$run" "$prefix" "$server" --port 0 --threads 2 --max-connections 8 >"$out" 2>&1 &
server_pid=$!
server_port=$(port_of "$out" $server_pid echo_server.exe) || { kill $server_pid 2>/dev/null; exit 1; }
"$run" "$prefix" "$proxy" --listen 0 --to "127.0.0.1:$server_port" --threads 2 \
  --max-connections 8 --quiet >"$out.proxy" 2>&1 &
proxy_pid=$!
proxy_port=$(port_of "$out.proxy" $proxy_pid proxy.exe) ||
  { kill $proxy_pid $server_pid 2>/dev/null; exit 1; }
timeout 120 "$run" "$prefix" "$client" --port "$proxy_port" --threads 2 --connections 8 \
  --messages 200 --duration 60 >"$out.client" 2>&1
client_rc=$?
exit_of $proxy_pid
proxy_rc=$?
exit_of $server_pid
server_rc=$?
grep RESULT "$out.client"
grep "connections" "$out.proxy"
if [ $client_rc -ne 0 ] || [ $proxy_rc -ne 0 ] || [ $server_rc -ne 0 ] ||
   ! grep -q "proxy: 8 connections (0 failed)" "$out.proxy"; then
  echo "client exit $client_rc, proxy exit $proxy_rc, server exit $server_rc"
  cat "$out" "$out.proxy" "$out.client"; exit 1
fi
