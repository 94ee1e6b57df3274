#!/usr/bin/env python3
"""buffered_reader's pooled mode against its plain mode, side by side in one
run: server memory per idle connection and server CPU per echoed line, with
bench/line_echo.cpp (corio_line_echo) as the server (Linux, /proc).

  bench/line_echo_memory.py build/dev/bench/corio_line_echo
                            [--idle 3000] [--conns 20] [--rounds 200] [--batch 20]

For each mode (pooled, plain; CORIO_BACKEND chooses the backend):
1. idle: RSS before and after opening --idle connections that each send
   one line, read its echo, then stay silent; KiB per idle connection.
2. load: --conns connections each do --rounds round trips of --batch
   64-byte lines sent at once (so each read carries several lines); the
   server's user+system CPU seconds (/proc/PID/stat) per line echoed.
The order of the modes alternates over --repeat runs. The machine may be
shared: the RSS figures do not depend on CPU contention, the CPU figures
do (say so next to them)."""
import argparse
import os
import resource
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, start_server, status_kib, stop  # noqa: E402


def echo_once(s, payload):
    """Sends `payload` and reads back exactly as many bytes."""
    s.sendall(payload)
    got = 0
    while got < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the server closed a connection")
        got += len(chunk)


def open_idle(port, n):
    conns = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        echo_once(s, b"hello %d\n" % i)
        conns.append(s)
    return conns


def measure(binary, mode, args):
    cmd = [binary] + (["--plain"] if mode == "plain" else [])
    p, port = start_server(cmd, "0-%d" % (os.cpu_count() - 1))
    try:
        before = status_kib(p.pid)
        conns = open_idle(port, args.idle)
        after = status_kib(p.pid)
        per_idle = (after - before) / args.idle
        for s in conns:
            s.close()
        line = b"x" * 63 + b"\n"
        load = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.conns)]
        for s in load:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        payload = line * args.batch
        cpu0 = cpu_seconds(p.pid)
        for _ in range(args.rounds):
            for s in load:
                echo_once(s, payload)
        cpu = cpu_seconds(p.pid) - cpu0
        lines = args.rounds * args.conns * args.batch
        for s in load:
            s.close()
        return per_idle, cpu / lines * 1e6
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--idle", type=int, default=3000)
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.idle + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.idle + 1000), hard))
    results = {"pooled": [], "plain": []}
    for r in range(args.repeat):
        for mode in (("pooled", "plain") if r % 2 == 0 else ("plain", "pooled")):
            results[mode].append(measure(args.binary, mode, args))
    backend = os.environ.get("CORIO_BACKEND", "automatic")
    print(f"backend {backend}; {args.idle} idle connections; load: {args.conns} connections x "
          f"{args.rounds} rounds x {args.batch} lines of 64 bytes; {args.repeat} runs each, "
          "best CPU shown")
    print("| mode | server RSS per idle connection | server CPU per line |")
    print("|---|---|---|")
    for mode in ("pooled", "plain"):
        idle = min(x[0] for x in results[mode])
        cpu = min(x[1] for x in results[mode])
        print(f"| {mode} | {idle:.2f} KiB | {cpu:.2f} us |")
    pooled_cpu = min(x[1] for x in results["pooled"])
    plain_cpu = min(x[1] for x in results["plain"])
    print(f"CPU per line, pooled / plain: {pooled_cpu / plain_cpu:.2f}")


if __name__ == "__main__":
    main()
