#!/usr/bin/env python3
"""Drives the proxy demo as a user would: bad arguments (exit 2), 10 MB each
way through it with half-close in each direction (sha256 compared at both
ends), per-connection byte counts, and Ctrl-C with a connection open (it is
cancelled, the summary counts it, exit 0).
Usage: proxy_cli.py path/to/proxy BACKEND"""
import hashlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading

from demo_process import check, finish, start, wait_exit

proxy, backend = sys.argv[1], sys.argv[2]
SIZE = 10 * 1024 * 1024
TIMEOUT = 30


def read_to_end(s):
    h, n = hashlib.sha256(), 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            return h.hexdigest(), n
        h.update(b)
        n += len(b)


# Bad arguments: usage and exit code 2; --help exit 0.
for bad in (["--to", "127.0.0.1"], [], ["--listen", "70000", "--to", "127.0.0.1:1"],
            ["--to", "127.0.0.1:0"], ["--to", "127.0.0.1:1", "--x"]):
    r = subprocess.run([proxy, *bad], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "usage" in r.stderr.lower(), f"{bad}: rc={r.returncode} {r.stderr!r}")
r = subprocess.run([proxy, "--help"], capture_output=True, text=True, timeout=10)
check(r.returncode == 0 and "--to" in r.stdout, f"--help: rc={r.returncode}")

up_data, down_data = os.urandom(SIZE), os.urandom(SIZE)
up_hash, down_hash = hashlib.sha256(up_data).hexdigest(), hashlib.sha256(down_data).hexdigest()

# The target: one connection per scenario, in order.
target = socket.create_server(("127.0.0.1", 0))
target_port = target.getsockname()[1]
held_ready = threading.Event()


def target_side():
    for mode in ("client_first", "server_first", "hold"):
        conn, _ = target.accept()
        conn.settimeout(TIMEOUT)
        with conn:
            if mode == "client_first":
                got = read_to_end(conn)  # the end comes from the proxy's half-close
                check(got == (up_hash, SIZE), f"client_first: target got {got[1]} bytes, hash ok={got[0] == up_hash}")
                conn.sendall(down_data)  # the other direction is still open
                conn.shutdown(socket.SHUT_WR)
            elif mode == "server_first":
                conn.sendall(down_data)
                conn.shutdown(socket.SHUT_WR)
                got = read_to_end(conn)
                check(got == (up_hash, SIZE), f"server_first: target got {got[1]} bytes")
            else:
                check(conn.recv(3) == b"abc", "hold: first bytes")
                held_ready.set()
                check(conn.recv(1) == b"", "hold: not closed by the proxy on Ctrl-C")


server_thread = threading.Thread(target=target_side, daemon=True)
server_thread.start()

# The target by name: localhost resolves to 127.0.0.1 (and maybe ::1, where
# nothing listens: the connect race goes on to the next address).
p, port = start([proxy, "--listen", "0", "--to", f"localhost:{target_port}", "--threads", "2",
                 "--backend", backend], says="proxy listening on")
lines = queue.Queue()
threading.Thread(target=lambda: [lines.put(l) for l in p.stdout], daemon=True).start()


def next_line():
    try:
        return lines.get(timeout=TIMEOUT)
    except queue.Empty:
        return ""


# The client shuts down its side first; the target's answer still arrives.
with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
    c.sendall(up_data)
    c.shutdown(socket.SHUT_WR)
    got = read_to_end(c)
    check(got == (down_hash, SIZE), f"client_first: client got {got[1]} bytes")
line = next_line()
check(f"#1 " in line and f"{SIZE} bytes up, {SIZE} bytes down, closed" in line, f"line 1: {line!r}")

# The target shuts down first; the client still sends after reading its end.
with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
    got = read_to_end(c)
    check(got == (down_hash, SIZE), f"server_first: client got {got[1]} bytes")
    c.sendall(up_data)
    c.shutdown(socket.SHUT_WR)
    check(c.recv(1) == b"", "server_first: no end after both sides closed")
line = next_line()
check(f"#2 " in line and f"{SIZE} bytes up, {SIZE} bytes down, closed" in line, f"line 2: {line!r}")

# Ctrl-C with a connection open: cancelled, counted, exit 0.
held = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
held.sendall(b"abc")
check(held_ready.wait(TIMEOUT), "held connection never reached the target")
p.send_signal(signal.SIGINT)
check(held.recv(1) == b"", "held connection not closed on Ctrl-C")
held.close()
rc = wait_exit(p, TIMEOUT)
check(rc == 0, f"exit code after SIGINT: {rc}")
rest = []
while not rest or "connections" not in rest[-1]:  # up to the summary
    l = next_line()
    if not l:
        break
    rest.append(l)
text = "".join(rest)
check("#3 " in text and "3 bytes up, 0 bytes down, error" in text, f"held line: {text!r}")
check(f"3 connections (1 failed), {2 * SIZE + 3} bytes up, {2 * SIZE} bytes down" in text,
      f"summary: {text!r}")
check("interrupted" in p.stderr.read(), "no Ctrl-C message")
server_thread.join(TIMEOUT)

finish("proxy behaves")
