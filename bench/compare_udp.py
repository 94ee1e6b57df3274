#!/usr/bin/env python3
"""Side-by-side UDP echo comparison: corio's udp_echo server (io_uring and
epoll) and a raw epoll recvfrom/sendto loop (bench/peers/raw_udp_echo), in
one run.

As in compare_echo.py, the server is pinned to one core and the load
generator (udp_echo's client mode, the same for every server) to the other;
what separates the servers is the server's CPU time per echoed datagram,
read from /proc/PID/stat over the client's run.
Servers run alternately for several rounds; the table shows medians,
min-max, and ratios to the raw loop.

Usage: bench/compare_udp.py --build build/bench [--rounds 3] [--count 200000]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_times, parse_result, start_server, stop  # noqa: E402


def one_run(server_cmd, client, count, size, mixed, window, cores):
    p, port = start_server(server_cmd, cores[0])
    try:
        cmd = ["taskset", "-c", cores[1], client, "--port", str(port), "--count", str(count),
               "--size", str(size), "--window", str(window), "--timeout", "1"]
        if mixed:
            cmd.append("--mixed")
        u0, s0 = cpu_times(p.pid)
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=600).stdout
        u1, s1 = cpu_times(p.pid)
        r = parse_result(out)
        if r.get("errors", 0) != 0:
            raise RuntimeError(f"load generator reported errors: {out}")
        got = max(r["received"], 1)
        return {"dgrams_per_s": r["dgrams_per_s"], "p50": r["p50_us"], "p99": r["p99_us"],
                "lost": r["lost"], "user_us": (u1 - u0) * 1e6 / got, "sys_us": (s1 - s0) * 1e6 / got}
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=200000, help="datagrams per run")
    ap.add_argument("--configs", default="64,1024m",
                    help="comma-separated sizes; a trailing m means mixed sizes from 16 up to it")
    ap.add_argument("--window", type=int, default=32, help="client's unanswered datagrams at most")
    ap.add_argument("--cores", default="0,1", help="server core,client core")
    args = ap.parse_args()
    b = args.build
    cores = args.cores.split(",")
    client = f"{b}/demos/udp_echo"
    servers = {
        "raw-udp-epoll": [f"{b}/bench/peers/raw_udp_echo", "--port", "0"],
        "corio-uring": [client, "--server", "--port", "0", "--threads", "1", "--backend", "uring"],
        "corio-epoll": [client, "--server", "--port", "0", "--threads", "1", "--backend", "epoll"],
    }
    for cmd in servers.values():
        if not os.access(cmd[0], os.X_OK):
            sys.exit(f"missing {cmd[0]}: build with -DCORIO_BUILD_BENCH=ON -DCORIO_BUILD_DEMOS=ON first")
    print(f"# UDP echo comparison, {time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename}, "
          f"{args.rounds} rounds x {args.count} datagrams, window {args.window}, "
          f"server on core {cores[0]}, client on core {cores[1]}")
    for config in args.configs.split(","):
        mixed = config.endswith("m")
        size = int(config.rstrip("m"))
        runs = {name: [] for name in servers}
        for rnd in range(args.rounds):
            for name, cmd in servers.items():
                runs[name].append(one_run(cmd, client, args.count, size, mixed, args.window, cores))
                print(f"  round {rnd + 1} {name}: {runs[name][-1]['dgrams_per_s']:.0f} datagrams/s",
                      file=sys.stderr)
        total = lambda n: statistics.median(r["user_us"] + r["sys_us"] for r in runs[n])
        base_cpu = total("raw-udp-epoll")
        base_rate = statistics.median(r["dgrams_per_s"] for r in runs["raw-udp-epoll"])
        label = f"mixed sizes 16-{size} B" if mixed else f"{size} B"
        print(f"\n## {label} datagrams")
        print("| server | datagrams/s median (min-max) | vs raw | p50 µs | p99 µs | lost | "
              "server CPU µs/datagram user | sys | total | vs raw |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, rs in runs.items():
            med = lambda k: statistics.median(r[k] for r in rs)
            print(f"| {name} | {med('dgrams_per_s'):.0f} ({min(r['dgrams_per_s'] for r in rs):.0f}-"
                  f"{max(r['dgrams_per_s'] for r in rs):.0f}) | {med('dgrams_per_s') / base_rate:.2f}x | "
                  f"{med('p50'):.0f} | {med('p99'):.0f} | {sum(r['lost'] for r in rs):.0f} | "
                  f"{med('user_us'):.3f} | {med('sys_us'):.3f} | {total(name):.3f} | "
                  f"{total(name) / base_cpu:.2f}x |")


if __name__ == "__main__":
    main()
