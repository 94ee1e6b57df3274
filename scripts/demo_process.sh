# shellcheck shell=bash
# What the scripts that start a demo in the background share (sourced, bash;
# safe under set -euo pipefail): the port the demo says it listens on, read
# from its output, and its exit awaited. Used by scripts/demo.sh,
# scripts/http_demo.sh and the demos' tests under Wine (tests/*/*_wine.sh);
# the Python tests' counterpart is tests/demos/demo_process.py.

# Waits for "listening on" in file $1, written by demo process $2 (named
# $3), until that process exits or a minute has passed (Wine starts slowly);
# prints the port of the first ":PORT " in the file. When there is none,
# says on stderr that $3 did not start, with its output, and fails.
port_of() {
  local port
  for _ in $(seq 600); do
    grep -q "listening on" "$1" && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  port=$(grep -oE ':[0-9]+ ' "$1" | head -1 | tr -d ': ') || true
  if [ -z "$port" ]; then
    { echo "$3 did not start:"; cat "$1"; } >&2
    return 1
  fi
  echo "$port"
}

# Waits up to a minute for background process $1 of this shell to exit;
# returns its exit status (127 when it is not one of this shell's children).
exit_of() {
  timeout 60 tail --pid="$1" -f /dev/null
  wait "$1"
}
