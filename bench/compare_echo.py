#!/usr/bin/env python3
"""Side-by-side echo comparison: corio (each Linux backend), Asio, a raw
io_uring loop and a raw epoll loop, in one run.

The server is pinned to one core and the load generator (corio's
echo_client) to the other, so what separates the servers is the server's
CPU time per echoed message, read from /proc/PID/stat over the measured
window. Servers run alternately for several rounds; the table shows the
median, min-max and the ratio to the raw io_uring loop.

Usage: bench/compare_echo.py --build build/bench [--rounds 3] [--seconds 4]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_times, parse_result, start_server, status_kib, stop  # noqa: E402

SYSCALL_EVENTS = "raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter"


def count_syscalls(pid, seconds):
    """Starts `perf stat` on the server for `seconds`; returns the process, whose
    output read_syscalls() turns into (all syscalls, io_uring_enter calls)."""
    return subprocess.Popen(["perf", "stat", "-x", ",", "-e", SYSCALL_EVENTS, "-p", str(pid),
                             "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def read_syscalls(perf):
    _, err = perf.communicate(timeout=60)
    counts = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit():
            counts[fields[2]] = int(fields[0])
    if "raw_syscalls:sys_enter" not in counts:
        raise RuntimeError("perf stat counted nothing (run as root, with linux-perf "
                           f"installed: scripts/setup.sh bench):\n{err}")
    return counts["raw_syscalls:sys_enter"], counts.get("syscalls:sys_enter_io_uring_enter", 0)


def one_run(server_cmd, client, conns, size, seconds, warmup, cores, syscalls=False):
    p, port = start_server(server_cmd, cores[0])
    try:
        cmd = ["taskset", "-c", cores[1], client, "--port", str(port), "--threads", "1",
               "--connections", str(conns), "--size", str(size), "--duration", str(seconds),
               "--warmup", str(warmup)]
        c = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(warmup)
        u0, s0 = cpu_times(p.pid)
        # Counted over most of the measured window; divided by the messages
        # of that same fraction of it.
        perf = count_syscalls(p.pid, seconds * 0.9) if syscalls else None
        out, _ = c.communicate(timeout=seconds + warmup + 60)
        u1, s1 = cpu_times(p.pid)
        r = parse_result(out)
        if r.get("errors", 0) != 0 or c.returncode != 0:
            raise RuntimeError(f"load generator reported errors: {out}")
        msgs = r["msgs"]
        result = {"msgs_per_s": r["msgs_per_s"], "p50": r["p50_us"], "p99": r["p99_us"],
                  "p999": r["p999_us"],
                  "user_us": (u1 - u0) * 1e6 / msgs, "sys_us": (s1 - s0) * 1e6 / msgs}
        if perf:
            calls, enters = read_syscalls(perf)
            counted = r["msgs_per_s"] * seconds * 0.9
            result["syscalls"] = calls / counted
            result["enters"] = enters / counted
        return result
    finally:
        stop(p)


def idle_rss(server_cmd, client, n, cores):
    p, port = start_server(server_cmd, cores[0])
    try:
        before = status_kib(p.pid)
        c = subprocess.Popen(["taskset", "-c", cores[1], client, "--port", str(port),
                              "--idle", str(n), "--duration", "3", "--threads", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        peak = before
        while c.poll() is None:
            peak = max(peak, status_kib(p.pid))
            time.sleep(0.1)
        out = c.stdout.read()
        m = re.search(r"survived=(\d+)", out)
        survived = int(m.group(1)) if m else 0
        return (peak - before) * 1024 / max(survived, 1), survived
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--idle", type=int, default=10000, help="idle connections for the RSS check (0 = skip)")
    ap.add_argument("--syscalls", action="store_true",
                    help="also count the server's system calls and io_uring_enter calls per "
                         "message (perf stat; needs root and linux-perf)")
    ap.add_argument("--cores", default="0,1", help="server core,client core")
    ap.add_argument("--configs", default="64x64,1000x64,64x4096",
                    help="comma-separated CONNECTIONSxSIZE cases")
    ap.add_argument("--servers", default="",
                    help="comma-separated subset of: raw-uring,raw-uring-ms,raw-uring-ms-direct,raw-epoll,asio,"
                         "corio-uring,corio-epoll "
                         "(default: all; the --baseline is always run)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=ECHO_SERVER",
                    help="also run another echo_server binary (a build of another commit, for an "
                         "A/B) with corio-uring's arguments; repeatable")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS",
                    help="also run this build's echo_server with corio-uring's arguments plus "
                         "ARGS (space-separated), e.g. tracked=--track; repeatable")
    ap.add_argument("--baseline", default="raw-uring",
                    help="the server the ratios are taken against (always run)")
    args = ap.parse_args()
    b = args.build
    cores = args.cores.split(",")
    client = f"{b}/demos/echo_client"
    servers = {
        "raw-uring": [f"{b}/bench/peers/raw_uring_echo", "--port", "0"],
        # The same loop with what corio's read_pooled does on kernels 6.0+
        # (provided buffers, one multishot recv per connection), and with
        # registered descriptors on top (which corio does not use).
        "raw-uring-ms": [f"{b}/bench/peers/raw_uring_echo", "--port", "0", "--multishot"],
        "raw-uring-ms-direct": [f"{b}/bench/peers/raw_uring_echo", "--port", "0", "--multishot",
                                "--direct"],
        "raw-epoll": [f"{b}/bench/peers/raw_epoll_echo", "--port", "0"],
        "asio": [f"{b}/bench/peers/asio_echo", "--port", "0"],
        "corio-uring": [f"{b}/demos/echo_server", "--port", "0", "--threads", "1", "--backend", "uring"],
        "corio-epoll": [f"{b}/demos/echo_server", "--port", "0", "--threads", "1", "--backend", "epoll"],
    }
    for extra in args.extra:
        name, _, path = extra.partition("=")
        if not name or not path:
            sys.exit(f"--extra: expected NAME=PATH, got {extra!r}")
        servers[name] = [path] + servers["corio-uring"][1:]
    for variant in args.variant:
        name, _, extra_args = variant.partition("=")
        if not name or not extra_args:
            sys.exit(f"--variant: expected NAME=ARGS, got {variant!r}")
        servers[name] = servers["corio-uring"] + extra_args.split()
    if args.servers:
        args.servers += "," + ",".join(e.partition("=")[0] for e in args.extra + args.variant)
        wanted = {s for s in args.servers.split(",") if s} | {args.baseline}
        unknown = wanted - servers.keys()
        if unknown:
            sys.exit(f"--servers: unknown {', '.join(sorted(unknown))}; known: {', '.join(servers)}")
        servers = {k: v for k, v in servers.items() if k in wanted}
    for name, cmd in servers.items():
        if not os.access(cmd[0], os.X_OK):
            sys.exit(f"missing {cmd[0]}: build with -DCORIO_BUILD_BENCH=ON first")
    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    print(f"# echo comparison, {time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename}, "
          f"{args.rounds} rounds x {args.seconds}s, server on core {cores[0]}, client on core {cores[1]}")
    for conns, size in configs:
        runs = {name: [] for name in servers}
        for rnd in range(args.rounds):
            for name, cmd in servers.items():
                runs[name].append(one_run(cmd, client, conns, size, args.seconds, args.warmup, cores,
                                          args.syscalls))
                print(f"  round {rnd + 1} {name}: {runs[name][-1]['msgs_per_s']:.0f} msg/s", file=sys.stderr)
        if args.baseline not in runs:
            sys.exit(f"--baseline: {args.baseline} is not among the servers run")
        base = statistics.median(r["user_us"] + r["sys_us"] for r in runs[args.baseline])
        print(f"\n## {conns} connections, {size} B messages")
        extra_head = " syscalls/msg | io_uring_enter/msg |" if args.syscalls else ""
        print("| server | msgs/s median (min-max) | p50 µs | p99 µs | p99.9 µs | CPU µs/msg user | sys | total | "
              f"vs {args.baseline} |" + extra_head)
        print("|---|---|---|---|---|---|---|---|---|" + ("---|---|" if args.syscalls else ""))
        for name, rs in runs.items():
            med = lambda k: statistics.median(r[k] for r in rs)
            tot = statistics.median(r["user_us"] + r["sys_us"] for r in rs)
            print(f"| {name} | {med('msgs_per_s'):.0f} ({min(r['msgs_per_s'] for r in rs):.0f}-"
                  f"{max(r['msgs_per_s'] for r in rs):.0f}) | {med('p50'):.0f} | {med('p99'):.0f} | "
                  f"{med('p999'):.0f} | "
                  f"{med('user_us'):.3f} | {med('sys_us'):.3f} | {tot:.3f} | {tot / base:.2f}x |"
                  + (f" {med('syscalls'):.2f} | {med('enters'):.2f} |" if args.syscalls else ""))
        if "raw-epoll" in runs and "corio-epoll" in runs:
            total = lambda n: statistics.median(r["user_us"] + r["sys_us"] for r in runs[n])
            print(f"\ncorio-epoll / raw-epoll CPU per message: {total('corio-epoll') / total('raw-epoll'):.2f}x")
    if args.idle:
        print(f"\n## server RSS per idle connection at {args.idle} idle connections")
        print("| server | bytes/connection | survived |")
        print("|---|---|---|")
        for name, cmd in servers.items():
            per, survived = idle_rss(cmd, client, args.idle, cores)
            print(f"| {name} | {per:.0f} | {survived} |")


if __name__ == "__main__":
    main()
