#!/usr/bin/env python3
"""Drives the udp_echo demo as a user would: bad arguments, a client run of
mixed sizes against the server by host name (no datagram lost on loopback),
a client with nobody listening, and the server's graceful stop on SIGINT.
Usage: udp_echo_cli.py path/to/udp_echo BACKEND"""
import re
import signal
import socket
import subprocess
import sys

from demo_process import check, finish, start

demo, backend = sys.argv[1], sys.argv[2]


# Bad arguments: usage and exit code 2.
for bad in (["--size", "8"], ["--window", "0"], ["--nope"], ["--count", "5"], ["--count", "x"],
            ["--server", "--host", "not an address"]):
    r = subprocess.run([demo, *bad], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "usage" in r.stderr.lower(), f"{bad}: rc={r.returncode} {r.stderr!r}")

p, port = start([demo, "--server", "--port", "0", "--backend", backend])
port = str(port)

# A raw datagram is echoed.
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(10)
    s.sendto(b"hello", ("127.0.0.1", int(port)))
    check(s.recvfrom(64)[0] == b"hello", "raw datagram not echoed")

# The client, by name (of several addresses, one probe datagram finds the
# server), mixed sizes, a bounded window: every datagram back.
r = subprocess.run([demo, "--host", "localhost", "--port", port, "--count", "3000", "--size", "1200",
                    "--mixed", "--window", "16", "--timeout", "5", "--backend", backend],
                   capture_output=True, text=True, timeout=120)
check(r.returncode == 0, f"client rc={r.returncode}: {r.stdout} {r.stderr}")
res = re.search(r"RESULT datagrams=(\d+) received=(\d+) lost=(\d+)", r.stdout)
check(res and res.groups() == ("3000", "3000", "0"), f"client result: {r.stdout!r}")
check("latency" in r.stdout, "no latency line")

# Graceful stop on SIGINT: exit 0 with a summary.
p.send_signal(signal.SIGINT)
try:
    out, err = p.communicate(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
check(p.returncode == 0, f"server exit code after SIGINT: {p.returncode}")
check("interrupted" in err and re.search(r"echoed 300[12] datagrams", out), f"server summary: {out!r} {err!r}")

# Nobody listening: the connected client hears "port unreachable" and says so.
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    free = str(s.getsockname()[1])
r = subprocess.run([demo, "--port", free, "--count", "10", "--timeout", "2", "--backend", backend],
                   capture_output=True, text=True, timeout=60)
check(r.returncode == 1 and "refused" in r.stdout.lower(), f"no server: rc={r.returncode} {r.stdout!r}")

finish()
