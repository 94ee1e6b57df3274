#!/usr/bin/env bash
# The HTTP demo: builds http_server and http_get, serves a temporary site on
# a free loopback port, and runs curl, http_get and wrk against it (wrk and
# curl from scripts/setup.sh bench / test).
# Usage: scripts/http_demo.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/demo_process.sh
. scripts/demo_process.sh
seconds=${1:-5}
connections=${2:-64}
bash scripts/setup.sh demo
for tool in curl wrk; do
  command -v "$tool" >/dev/null || { echo "http_demo.sh: $tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done

dir=build/demo
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCORIO_BUILD_TESTS=OFF -DCORIO_BUILD_DEMOS=ON >/dev/null
cmake --build "$dir" -j "$(nproc)" --target http_server http_get >/dev/null

site=$(mktemp -d)
out=$(mktemp)
head -c 4096 /dev/urandom >"$site/4k.bin"
head -c $((8 << 20)) /dev/urandom >"$site/8m.bin"
echo "<p>corio http_server</p>" >"$site/index.html"
"$dir/demos/http_server" --root "$site" --port 0 --threads 1 >"$out" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$site" "$out"' EXIT
url=http://127.0.0.1:$(port_of "$out" $server http_server) || exit 1
cat "$out"
set -x
curl -si "$url/hello"; echo
curl -si -r 0-9 "$url/4k.bin" -o /dev/null -w '%{http_code} %{size_download} bytes\n'
curl -s "$url/" --next "$url/index.html"
"$dir/demos/http_get" "$url/8m.bin" -o "$site/copy.bin"
cmp "$site/8m.bin" "$site/copy.bin"
wrk -t1 -c"$connections" -d"${seconds}s" --latency "$url/hello"
wrk -t1 -c"$connections" -d"${seconds}s" --latency "$url/4k.bin"
