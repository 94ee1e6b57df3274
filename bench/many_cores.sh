#!/usr/bin/env bash
# Echo throughput on many cores: corio (io_uring and epoll) beside the raw
# io_uring loop (plain and --multishot), the raw epoll loop and Asio, each
# server on 1 and on 4 cores with the load generator on 8 other cores, all
# in one run.
#
#   bench/many_cores.sh build [DIR]   static release binaries into DIR
#                                     (default build/many-cores); run here
#   bench/many_cores.sh run [DIR]     on a machine with 12 or more cores;
#                                     needs only bash, taskset and DIR
#
# The binaries are linked statically (-DCORIO_STATIC_BINARIES=ON), so DIR can
# be copied to a machine where nothing can be installed. Servers alternate
# for ROUNDS rounds (default 3); the table shows the median messages/s and
# the ratios the speed issue asks for: corio 1 worker vs the raw io_uring
# loop and vs Asio, and 4 workers vs 1.
#
# Environment: ROUNDS (3), RUN_SECONDS (5, measured after 1 s of warm-up),
# CONNECTIONS (512), SIZE (64), LOAD_CORES (8-15); the servers run on core 0
# and on cores 0-3. FORCE=1 runs on fewer cores (a smoke test of the script,
# with LOAD_CORES=1: its figures mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
dir=${2:-build/many-cores}

build() {
  local tree=build/static-release
  bash scripts/setup.sh bench
  cmake -S . -B "$tree" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCORIO_STATIC_BINARIES=ON \
    -DCORIO_BUILD_TESTS=OFF -DCORIO_BUILD_DEMOS=ON -DCORIO_BUILD_BENCH=ON > /dev/null
  cmake --build "$tree" -j "$(nproc)" --target echo_server echo_client raw_uring_echo \
    raw_epoll_echo asio_echo
  mkdir -p "$dir"
  cp "$tree"/demos/echo_server "$tree"/demos/echo_client "$tree"/bench/peers/raw_uring_echo \
    "$tree"/bench/peers/raw_epoll_echo "$tree"/bench/peers/asio_echo "$dir"/
  echo "static binaries in $dir ($(du -sh "$dir" | cut -f1)); on the big machine: bench/many_cores.sh run $dir"
}

# Starts a server pinned to `cores`; sets server_pid and port (empty if the
# server did not report one).
start_server() {  # cores, command...
  local cores=$1; shift
  local out; out=$(mktemp)
  taskset -c "$cores" "$@" > "$out" 2>&1 &
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(grep -oE ':[0-9]+' "$out" | head -1 | tr -d : || true)
    if [ -n "$port" ] || ! kill -0 "$server_pid" 2> /dev/null; then break; fi
    sleep 0.05
  done
  [ -n "$port" ] || { echo "many_cores: $1 did not report a port: $(cat "$out")" >&2; }
  rm -f "$out"
}

stop_server() {
  kill -INT "$server_pid" 2> /dev/null || true
  wait "$server_pid" 2> /dev/null || true
}

server_command() {  # name, workers
  local w=$2
  case $1 in
    corio-uring) echo "$dir/echo_server --port 0 --threads $w --backend uring" ;;
    corio-epoll) echo "$dir/echo_server --port 0 --threads $w --backend epoll" ;;
    raw-uring) echo "$dir/raw_uring_echo --port 0 --threads $w" ;;
    raw-uring-ms) echo "$dir/raw_uring_echo --port 0 --threads $w --multishot" ;;
    raw-epoll) echo "$dir/raw_epoll_echo --port 0 --threads $w" ;;
    asio) echo "$dir/asio_echo --port 0 --threads $w" ;;
  esac
}

median() { sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

run() {
  local cores; cores=$(nproc)
  if [ "$cores" -lt 12 ] && [ -z "${FORCE:-}" ]; then
    echo "many_cores: this machine has $cores cores; the run needs 12 or more (4 for the server, 8 for the load)" >&2
    exit 2
  fi
  local rounds=${ROUNDS:-3} seconds=${RUN_SECONDS:-5}
  local conns=${CONNECTIONS:-512} size=${SIZE:-64} load=${LOAD_CORES:-8-15}
  local servers=(corio-uring corio-epoll raw-uring raw-uring-ms raw-epoll asio)
  declare -A sample
  echo "== $(date -u +%FT%TZ) $(uname -r), $cores cores; server on 0 / 0-3, load on $load;" \
    "$conns connections x $size B, $rounds rounds of ${seconds}s"
  for round in $(seq "$rounds"); do
    for w in 1 4; do
      local server_cores=0; [ "$w" -eq 4 ] && server_cores=0-3
      for s in "${servers[@]}"; do
        # shellcheck disable=SC2046
        start_server "$server_cores" $(server_command "$s" "$w")
        local result=
        if [ -n "$port" ]; then
          result=$(taskset -c "$load" "$dir/echo_client" --port "$port" --threads 8 \
            --connections "$conns" --size "$size" --warmup 1 --duration "$seconds" 2> /dev/null |
            grep '^RESULT' || true)
        fi
        stop_server
        local rate; rate=$(grep -oE 'msgs_per_s=[0-9.]+' <<< "$result" | cut -d= -f2 || true)
        echo "round $round  $s  workers=$w  msgs/s=${rate:-failed}"
        if [ -n "$rate" ]; then sample[$s.$w]+="$rate "; fi
      done
    done
  done
  echo
  echo "| server | 1 worker msgs/s | 4 workers msgs/s | 4 / 1 |"
  echo "|---|---|---|---|"
  declare -A med
  for s in "${servers[@]}"; do
    for w in 1 4; do med[$s.$w]=$(tr ' ' '\n' <<< "${sample[$s.$w]:-0}" | grep . | median); done
    awk -v s="$s" -v a="${med[$s.1]}" -v b="${med[$s.4]}" \
      'BEGIN{printf "| %s | %.0f | %.0f | %.2fx |\n", s, a, b, (a > 0) ? b / a : 0}'
  done
  echo
  awk -v c="${med[corio-uring.1]}" -v r="${med[raw-uring.1]}" -v m="${med[raw-uring-ms.1]}" \
    -v a="${med[asio.1]}" \
    'BEGIN{printf "corio-uring, 1 worker: %.2fx the raw io_uring loop (target >= 1.0x; %.2fx its multishot variant), %.2fx Asio (target >= 1.3x)\n",
           (r > 0) ? c / r : 0, (m > 0) ? c / m : 0, (a > 0) ? c / a : 0}'
  awk -v a="${med[corio-uring.1]}" -v b="${med[corio-uring.4]}" \
    'BEGIN{printf "corio-uring, 4 workers: %.2fx one worker (target >= 3.5x)\n", (a > 0) ? b / a : 0}'
}

case $mode in
  build) build ;;
  run) run ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
