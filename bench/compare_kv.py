#!/usr/bin/env python3
"""kv_server beside redis-server: redis-benchmark requests/s and server CPU per request.

Each round starts every server in turn (redis-server with --save "" --appendonly no,
then kv_server with each --threads value), pinned to the same cores, and runs
redis-benchmark -c CLIENTS -n REQUESTS -P P -t TEST against it, one test at a time
(the two PING tests of -t ping share one CPU reading),
reading the server's user+system CPU time from /proc/PID/stat before and after each
test. Servers alternate within a round, so drift on a shared machine hits all of
them alike. Prints, per pipeline depth and test, the median requests/s, the median
server CPU microseconds per request, and the ratio of CPU per request to
redis-server's (below 1.00x: kv_server spends less CPU per request).

  bench/compare_kv.py --kv build/bench/demos/kv_server --rounds 3 --requests 200000
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, free_port, start_pinned, stop, wait_port  # noqa: E402


def requests_for(args, pipeline):
    if pipeline == 1:
        return args.requests
    return args.requests_pipelined or 4 * args.requests


def bench(port, test, args, pipeline, client_cores):
    cmd = ["redis-benchmark", "-p", str(port), "-c", str(args.clients), "-n", str(requests_for(args, pipeline)),
           "-P", str(pipeline), "-t", test, "--csv"]
    if client_cores:
        cmd = ["taskset", "-c", client_cores] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    rows = {}
    for line in out.splitlines():
        parts = [p.strip('"') for p in line.split(",")]
        if len(parts) >= 2 and parts[0] != "test":
            rows[parts[0]] = float(parts[1])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kv", default="build/bench/demos/kv_server", help="kv_server binary")
    ap.add_argument("--redis", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--threads", default="1,2", help="kv_server --threads values")
    ap.add_argument("--backend", default="auto", help="kv_server --backend")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--requests-pipelined", type=int, default=0,
                    help="requests per test at -P > 1 (default 4x --requests: /proc/PID/stat counts 10 ms ticks)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--tests", default="ping,set,get,incr,mset")
    ap.add_argument("--server-cores", default="0", help="taskset list for single-threaded servers")
    ap.add_argument("--server-cores-mt", default="0,1", help="taskset list for kv_server --threads > 1")
    ap.add_argument("--client-cores", default="1", help="taskset list for redis-benchmark")
    args = ap.parse_args()

    servers = [("redis", lambda port: [args.redis, "--port", str(port), "--save", "", "--appendonly", "no",
                                       "--bind", "127.0.0.1"], args.server_cores)]
    for t in args.threads.split(","):
        servers.append((f"kv-{t}t", lambda port, t=t: [args.kv, "--port", str(port), "--threads", t,
                                                      "--backend", args.backend],
                        args.server_cores if t == "1" else args.server_cores_mt))
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = args.tests.split(",")
    # results[(pipeline, server, row)] = [(rps, cpu_us_per_req), ...]
    results = {}
    for rnd in range(args.rounds):
        for name, cmd, cores in servers:
            port = free_port()
            p = start_pinned(cmd(port), cores)
            try:
                wait_port(port, p)
                for pipeline in pipelines:
                    for test in tests:
                        before = cpu_seconds(p.pid)
                        rows = bench(port, test, args, pipeline, args.client_cores)
                        used = cpu_seconds(p.pid) - before
                        total = requests_for(args, pipeline) * max(len(rows), 1)
                        for row, rps in rows.items():
                            results.setdefault((pipeline, name, row), []).append(
                                (rps, used * 1e6 / total))
            finally:
                stop(p, signal.SIGTERM, timeout=10)
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    print(f"redis-benchmark -c {args.clients} -n {args.requests} (-P > 1: {requests_for(args, 16)}), "
          f"{args.rounds} rounds; "
          f"servers on cores {args.server_cores} (kv multi-thread: {args.server_cores_mt}), "
          f"client on {args.client_cores}")
    for pipeline in pipelines:
        print(f"\n#### -P {pipeline}")
        print("| test | server | requests/s | CPU µs/request | CPU/request vs redis |")
        print("|---|---|---|---|---|")
        rows = sorted({r for (pp, _, r) in results if pp == pipeline},
                      key=lambda r: [t.upper() in r for t in tests].index(True) if any(
                          t.upper() in r for t in tests) else 99)
        for row in rows:
            base = results.get((pipeline, "redis", row))
            base_cpu = statistics.median(c for _, c in base) if base else None
            for name, _, _ in servers:
                got = results.get((pipeline, name, row))
                if not got:
                    continue
                rps = statistics.median(r for r, _ in got)
                cpu = statistics.median(c for _, c in got)
                ratio = f"{cpu / base_cpu:.2f}x" if base_cpu else "-"
                print(f"| {row} | {name} | {rps:.0f} | {cpu:.3f} | {ratio} |")


if __name__ == "__main__":
    main()
