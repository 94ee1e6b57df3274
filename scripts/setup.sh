#!/usr/bin/env bash
# Installs what corio needs on Debian 12, and nothing when all is present.
# Usage: scripts/setup.sh demo|test|bench   (test also covers demo)
set -euo pipefail

profile=${1:-test}
packages=(g++ cmake ninja-build pkg-config liburing-dev libfmt-dev libssl-dev)
case "$profile" in
  demo) ;;
  test) packages+=(googletest libgtest-dev g++-mingw-w64-x86-64-posix wine wine64 python3
        redis-server redis-tools clang-16 libclang-rt-16-dev openssl curl apache2-utils
        nghttp2-client) ;;
  bench) packages+=(libasio-dev libbenchmark-dev python3 linux-perf nginx-light wrk) ;;
  *) echo "usage: $0 demo|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q "${missing[@]}" >&2
# The kv_server tests start their own redis-server; the one the package starts is not needed.
case " ${missing[*]} " in *" redis-server "*) service redis-server stop >&2 || true ;; esac
