#!/usr/bin/env python3
"""Drives the echo_server demo as a user would: bad arguments, echo, the
idle timeout, and graceful shutdown on SIGINT within --grace, exit 0.
Usage: echo_server_cli.py path/to/echo_server BACKEND"""
import signal
import socket
import subprocess
import sys

server, backend = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def start(*extra):
    p = subprocess.Popen([server, "--port", "0", "--threads", "2", "--backend", backend, *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    check("listening on 127.0.0.1:" in line, f"no listening line: {line!r}")
    return p, int(line.split(":")[1].split()[0])


# Bad arguments: usage and exit code 2.
for bad in (["--port", "70000"], ["--threads", "0"], ["--nope"], ["--idle-timeout", "x"]):
    r = subprocess.run([server, *bad], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "usage" in r.stderr.lower(), f"{bad}: rc={r.returncode}")

# Echo, then idle timeout: a silent connection is closed by the server.
p, port = start("--idle-timeout", "0.3", "--grace", "5")
with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
    c.sendall(b"hello")
    check(c.recv(5) == b"hello", "echo")
    c.settimeout(10)
    check(c.recv(1) == b"", "idle connection was not closed by the server")

# Graceful shutdown: an open (busy) connection keeps being served during the
# grace period, then is cancelled; the server exits 0.
held = socket.create_connection(("127.0.0.1", port), timeout=10)
held.sendall(b"x")
check(held.recv(1) == b"x", "echo before shutdown")
p.send_signal(signal.SIGINT)
held.sendall(b"y")
check(held.recv(1) == b"y", "connection not served during the grace period")
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    rc = None
check(rc == 0, f"exit code after SIGINT: {rc}")
held.settimeout(10)
check(held.recv(1) == b"", "connection not closed after the grace period")
held.close()
check("interrupted" in p.stderr.read(), "no shutdown message")

if failures:
    sys.exit("FAILED: " + "; ".join(failures))
print("echo_server behaves")
