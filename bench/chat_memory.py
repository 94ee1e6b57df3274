#!/usr/bin/env python3
"""What chat_server's memory does under idle connections, churn and a
broadcast flood, read from the server's /proc/PID/status (Linux).

  bench/chat_memory.py build/dev/demos/chat_server [--idle 4000] [--cycles 12]
                       [--members 100] [--flood-mb 12] [--line 4000]

1. idle: RSS before and after opening --idle connections that each got
   their welcome line and then stay silent; RSS per idle connection.
2. churn: --cycles waves of --idle connections opened (welcome read) and
   closed; RSS after each wave, against the baseline.
3. flood: --members clients join one room and never read; one sender sends
   --flood-mb MB of --line byte lines into it (reading its own echoes).
   Peak RSS (VmHWM) of the whole run, and the server's own summary line
   (it counts the bytes its queues held) when it prints one.
The machine may be shared: RSS figures do not depend on CPU contention,
but say so next to them anyway."""
import argparse
import os
import resource
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import status_kib  # noqa: E402


def wait_connections(server, n):
    """Blocks until the server has closed every connection but `n`, as seen
    by counting its open sockets (no sleeps as synchronisation: polling the
    server's own descriptor table, bounded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fds = 0
        for fd in os.listdir(f"/proc/{server.pid}/fd"):
            try:
                if os.readlink(f"/proc/{server.pid}/fd/{fd}").startswith("socket:"):
                    fds += 1
            except OSError:
                pass
        if fds <= n + 1:  # + the listener
            return
        time.sleep(0.01)
    sys.exit(f"server still holds more than {n} connections after 60 s")


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def open_idle(port, n):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        conns.append(s)
    for s in conns:
        line = read_line(s)
        if not line.startswith(b"OK welcome"):
            sys.exit(f"unexpected first line {line!r}")
    return conns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--idle", type=int, default=4000)
    ap.add_argument("--cycles", type=int, default=12)
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--flood-mb", type=float, default=12)
    ap.add_argument("--line", type=int, default=4000)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--extra", default="", help="more chat_server arguments, space separated")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    p = subprocess.Popen([a.server, "--port", "0", "--threads", a.threads, *a.extra.split()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(p.stdout.readline().split("127.0.0.1:")[1].split()[0])
    # Warm up: one connection, so the workers' first allocations are in.
    warm = open_idle(port, 1)
    warm[0].close()
    wait_connections(p, 0)
    base = status_kib(p.pid)
    conns = open_idle(port, a.idle)
    loaded = status_kib(p.pid)
    print(f"idle: baseline {base} KiB, with {a.idle} idle connections {loaded} KiB: "
          f"{(loaded - base) * 1024 / a.idle:.0f} bytes per idle connection")
    for s in conns:
        s.close()
    wait_connections(p, 0)
    print(f"idle: after closing them {status_kib(p.pid)} KiB")

    after = []
    for _ in range(a.cycles):
        conns = open_idle(port, a.idle)
        for s in conns:
            s.close()
        wait_connections(p, 0)
        after.append(status_kib(p.pid))
    print(f"churn: baseline {base} KiB; after each of {a.cycles} waves of {a.idle}: "
          + " ".join(str(x) for x in after) + " KiB")

    if a.members > 0:
        members = []
        for i in range(a.members):
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"/nick m{i}\n/join flood\n".encode())
            members.append(s)
        for s in members:  # each one's welcome, nick and join acknowledgement
            got = b""
            while got.count(b"\n") < 3:
                got += s.recv(65536)
        sender = socket.create_connection(("127.0.0.1", port), timeout=60)
        sender.sendall(b"/nick sender\n/join flood\n")
        total = int(a.flood_mb * 1e6)
        line = b"x" * (a.line - 1) + b"\n"
        count = total // len(line)

        def drain():
            try:
                while sender.recv(1 << 20):
                    pass
            except OSError:
                pass
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        for _ in range(count):
            sender.sendall(line)
        sender.sendall(b"/who\n")
        print(f"flood: sent {count * len(line) / 1e6:.1f} MB to {a.members} members that do not read; "
              f"server VmHWM {status_kib(p.pid, 'VmHWM')} KiB, VmRSS {status_kib(p.pid)} KiB")
        sender.close()
        for s in members:
            s.close()
        wait_connections(p, 0)
    p.send_signal(2)
    out, err = p.communicate(timeout=60)
    for l in err.splitlines():
        if "bytes" in l or "served" in l:
            print("server:", l)


main()
