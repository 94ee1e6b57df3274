#!/usr/bin/env python3
"""Drives the echo_server demo as a user would: bad arguments, echo, the
idle timeout (on reads and on writes), graceful shutdown on SIGINT within
--grace (new clients refused at once), a second SIGINT that ends the grace,
exit 0. No sleeps: every wait is on the server's own output or a socket,
bounded by a timeout that only a failure reaches.
Usage: echo_server_cli.py path/to/echo_server BACKEND"""
import signal
import socket
import subprocess
import sys

from demo_process import check, finish, start as start_demo, wait_exit

server, backend = sys.argv[1], sys.argv[2]


def start(*extra):
    return start_demo([server, "--port", "0", "--threads", "2", "--backend", backend, *extra])


# Bad arguments: usage and exit code 2.
for bad in (["--port", "70000"], ["--threads", "0"], ["--nope"], ["--idle-timeout", "x"]):
    r = subprocess.run([server, *bad], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "usage" in r.stderr.lower(), f"{bad}: rc={r.returncode}")
# A timeout that would round to 0 ms (and so mean "never") is refused.
for bad in (["--idle-timeout", "0.0004"], ["--grace", "0.0001"]):
    try:
        r = subprocess.run([server, *bad], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:  # accepted, and serving
        check(False, f"{bad}: accepted instead of refused")
        continue
    check(r.returncode == 2 and "under 1 ms" in r.stderr, f"{bad}: rc={r.returncode} {r.stderr!r}")

# Echo, then idle timeout: a silent connection is closed by the server.
p, port = start("--idle-timeout", "0.3", "--grace", "5")
with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
    c.sendall(b"hello")
    check(c.recv(5) == b"hello", "echo")
    c.settimeout(10)
    check(c.recv(1) == b"", "idle connection was not closed by the server")

# A client that sends but never reads: the echo's write stalls, and
# --idle-timeout covers that too (before, the write waited forever and so did
# the client's send). The server closes with unread data, so the client's
# send fails; 30 s is only the bound a failure would reach.
with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.settimeout(30)
    chunk = b"z" * 65536
    closed = False
    try:
        for _ in range(8192):  # 512 MiB at most: far beyond the kernel's buffers
            c.sendall(chunk)
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    except socket.timeout:
        pass
    check(closed, "a client that sends but never reads was not closed by --idle-timeout")

# Graceful shutdown: an open (busy) connection keeps being served during the
# grace period, then is cancelled; the server exits 0.
held = socket.create_connection(("127.0.0.1", port), timeout=10)
held.sendall(b"x")
check(held.recv(1) == b"x", "echo before shutdown")
p.send_signal(signal.SIGINT)
held.sendall(b"y")
check(held.recv(1) == b"y", "connection not served during the grace period")
rc = wait_exit(p)
check(rc == 0, f"exit code after SIGINT: {rc}")
held.settimeout(10)
check(held.recv(1) == b"", "connection not closed after the grace period")
held.close()
check("interrupted" in p.stderr.read(), "no shutdown message")


def refused(port):
    """True when a new client is refused, or accepted into the backlog of a
    listener being closed and then reset: anything but being left waiting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.settimeout(10)
            c.sendall(b"x")
            return c.recv(1) == b""
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# During the grace the listener is closed, and a second SIGINT ends the grace
# at once (600 s of grace would otherwise hold the server).
p, port = start("--grace", "600")
held = socket.create_connection(("127.0.0.1", port), timeout=10)
held.sendall(b"x")
check(held.recv(1) == b"x", "echo before shutdown")
p.send_signal(signal.SIGINT)
line = p.stderr.readline()
check("interrupted" in line and "second signal" in line, f"first signal's message: {line!r}")
check(refused(port), "a new client was left waiting during the grace")
held.sendall(b"y")
check(held.recv(1) == b"y", "connection not served during the grace period")
p.send_signal(signal.SIGINT)
rc = wait_exit(p)
check(rc == 0, f"exit code after a second SIGINT: {rc}")
held.settimeout(10)
check(held.recv(1) == b"", "connection not closed after the second SIGINT")
held.close()
check("ending the grace now" in p.stderr.read(), "no message for the second signal")

finish("echo_server behaves")
