#!/usr/bin/env python3
"""Drives the chat_server demo as a user would: bad arguments (a timeout
that would round to 0 ms among them), --idle-timeout closing a silent
client with a last ERR line, and SIGINT: the listener closes at once (new
clients refused), exit 0 with the summary.
No sleeps: every wait is on the server's output or a socket, bounded by a
timeout that only a failure reaches.
Usage: chat_server_cli.py path/to/chat_server BACKEND"""
import signal
import socket
import subprocess
import sys

from demo_process import check, finish, start, wait_exit

server, backend = sys.argv[1], sys.argv[2]


def lines(sock):
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode()
        chunk = sock.recv(4096)
        if not chunk:
            if buf:
                yield buf.decode()
            return
        buf += chunk


for bad, why in ((["--idle-timeout", "0.0004"], "under 1 ms"),
                 (["--idle-timeout", "-1"], "out of range"),
                 (["--queue-bytes", "10"], "out of range"),
                 (["--queue-bytes", "2000", "--max-line", "4096"], "at least one line")):
    try:
        r = subprocess.run([server, *bad], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:  # accepted, and serving
        check(False, f"{bad}: accepted instead of refused")
        continue
    check(r.returncode == 2 and why in r.stderr, f"{bad}: rc={r.returncode} {r.stderr!r}")

p, port = start([server, "--port", "0", "--threads", "2", "--backend", backend,
                 "--idle-timeout", "0.2"])

# A client that says nothing is closed, told why.
with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
    c.settimeout(10)
    got = list(lines(c))
    check(got[:1] and got[0].startswith("OK welcome"), f"welcome: {got[:1]}")
    check(got[-1:] and got[-1].startswith("ERR idle timeout"), f"idle: {got[-1:]}")

# SIGINT: the listener is closed at once, so a new client is refused (or
# reset: never left waiting in the backlog).
p.send_signal(signal.SIGINT)
said = p.stderr.readline()
check("shutting down" in said, f"shutdown message: {said!r}")
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as late:
        late.settimeout(10)
        check(late.recv(1) == b"", "a new client was served after shutdown")
except (ConnectionRefusedError, ConnectionResetError):
    pass
except socket.timeout:
    check(False, "a new client was left waiting after shutdown")
rc = wait_exit(p)
check(rc == 0, f"exit code after SIGINT: {rc}")
err = p.stderr.read()
check("1 as idle" in err, f"no idle count in the summary: {err!r}")

finish("chat_server behaves")
