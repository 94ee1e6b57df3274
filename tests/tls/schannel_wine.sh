#!/usr/bin/env bash
# The SChannel engine under Wine against TLS peers on the Linux side: makes
# test certificates with the openssl command (a CA; RSA server, expired and
# self-signed certificates for localhost / 127.0.0.1), starts `openssl
# s_server -rev` (one with the server certificate, one self-signed, one
# expired) and tests/tls/tls_peer.py (close_notify, truncation), then runs
# the TLS tests of corio_tests.exe on IOCP with their ports and the
# certificates' folder in the environment. Passes when the tests pass (a
# skip counts as a pass: the output lists each skip with its reason).
# Usage: schannel_wine.sh WINE_RUN PREFIX CORIO_TESTS_EXE
set -u
run=$1 prefix=$2 exe=$3
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/corio-schannel-XXXXXX)
pids=()
cleanup() {
  exec 3>&- 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir" || exit 1

quiet() { "$@" >/dev/null 2>&1 || { echo "failed: $*"; exit 1; }; }
quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
  -out ca.pem -subj "/CN=corio test CA" -days 30 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >leaf.ext
# leaf STEM DAYS: an RSA key and a CA-signed certificate (DAYS < 0: expired).
leaf() {
  quiet openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj /CN=localhost
  quiet openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
    -days "$2" -extfile leaf.ext
}
leaf server 30
leaf expired -1
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.pem -subj /CN=localhost \
  -days 30 -addext subjectAltName=DNS:localhost,IP:127.0.0.1

# The servers read stdin (s_server: commands); a FIFO held open keeps it
# from ending while they run.
mkfifo stdin.fifo
exec 3<>stdin.fifo
# wait_port FILE WORD: the port printed after WORD (last ':'-separated field).
wait_port() {
  for _ in $(seq 100); do
    line=$(grep -m1 "$2" "$1" 2>/dev/null)
    if [ -n "$line" ]; then echo "${line##*[: ]}"; return; fi
    sleep 0.1
  done
  echo "no $2 in $1:" >&2; cat "$1" >&2; exit 1
}
s_server() {  # NAME CERT KEY
  openssl s_server -accept 0 -rev -alpn echo -cert "$2" -key "$3" <&3 >"$1.out" 2>&1 &
  pids+=($!)
}
s_server echo server.pem server.key
s_server self self.pem self.key
s_server expired expired.pem expired.key
python3 "$here/tls_peer.py" server.pem server.key <&3 >peer.out 2>&1 &
pids+=($!)
export CORIO_TLS_PEER_ECHO=$(wait_port echo.out ACCEPT)
export CORIO_TLS_PEER_SELF_SIGNED=$(wait_port self.out ACCEPT)
export CORIO_TLS_PEER_EXPIRED=$(wait_port expired.out ACCEPT)
export CORIO_TLS_PEER_CLOSE_NOTIFY=$(wait_port peer.out close_notify)
export CORIO_TLS_PEER_TRUNCATE=$(wait_port peer.out truncate)
export CORIO_TLS_TEST_CERTS="Z:$dir"
export CORIO_BACKEND=iocp

timeout 300 "$run" "$prefix" "$exe" --gtest_filter="${CORIO_TLS_FILTER:-tls_peer.*:tls_test.*:schannel_probe.*}" \
  --gtest_brief=0 >tests.out 2>&1
rc=$?
cat tests.out  # each skip with its reason (Wine's SChannel status)
if [ $rc -ne 0 ]; then
  echo "corio_tests.exe exit $rc"; exit 1
fi
