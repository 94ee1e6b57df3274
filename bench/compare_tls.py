#!/usr/bin/env python3
"""TLS echo comparison: corio's echo_server --tls (io_uring and epoll) beside
raw_openssl_echo (OpenSSL 3 over raw epoll, bench/peers), in one run.

As in compare_echo.py, the server is pinned to one core and the load
generator (echo_client --tls) to the other; the figure that matters is the
server's CPU time (user + system, from /proc/PID/stat) per echoed message,
or per connection in the handshake rows (echo_client --reconnect: connect,
handshake, one 64 B echo, close_notify both ways, close; with and without
session resumption). Servers alternate for several rounds; the table shows
the median and the ratio to the raw OpenSSL loop.

The certificate (ECDSA P-256, for 127.0.0.1) is made for the run with the
openssl command and deleted afterwards.

Usage: bench/compare_tls.py --build build/dev --peers build/peers [--rounds 3] [--seconds 4]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, make_cert, parse_result, start_server, stop  # noqa: E402


def one_run(server_cmd, client, client_args, seconds, warmup, cores):
    p, port = start_server(server_cmd, cores[0])
    try:
        cmd = ["taskset", "-c", cores[1], client, "--port", str(port), "--threads", "1",
               "--duration", str(seconds), "--warmup", str(warmup)] + client_args
        c = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(warmup)
        cpu0 = cpu_seconds(p.pid)
        out, _ = c.communicate(timeout=seconds + warmup + 60)
        cpu1 = cpu_seconds(p.pid)
        r = parse_result(out)
        if r.get("errors", 0) != 0 or c.returncode != 0:
            raise RuntimeError(f"load generator reported errors: {out}")
        msgs = r["msgs"]
        return {"rate": r["msgs_per_s"], "cpu_us": (cpu1 - cpu0) * 1e6 / msgs}
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/dev", help="corio build with demos")
    ap.add_argument("--peers", default="build/peers", help="build of bench/peers")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--cores", default="0,1", help="server core,client core")
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    cores = args.cores.split(",")

    folder = tempfile.mkdtemp(prefix="corio-tls-bench-")
    try:
        cert, key = make_cert(folder)
        corio = os.path.join(args.build, "demos", "echo_server")
        servers = {
            "corio-uring": [corio, "--port", "0", "--threads", "1", "--backend", "uring",
                            "--tls", "--tls-cert", cert, "--tls-key", key],
            "corio-epoll": [corio, "--port", "0", "--threads", "1", "--backend", "epoll",
                            "--tls", "--tls-cert", cert, "--tls-key", key],
            "raw-openssl": [os.path.join(args.peers, "raw_openssl_echo"), "--port", "0",
                            "--threads", "1", "--cert", cert, "--key", key],
        }
        client = os.path.join(args.build, "demos", "echo_client")
        tls = ["--tls", "--tls-ca", cert]
        n = str(args.connections)
        configs = {
            f"{n} conns x 64 B": tls + ["--connections", n, "--size", "64"],
            f"{n} conns x 16 KiB": tls + ["--connections", n, "--size", "16384"],
            "handshakes, resumed": tls + ["--connections", "16", "--reconnect"],
            "handshakes, full": tls + ["--connections", "16", "--reconnect", "--tls-no-resume"],
        }
        for name, client_args in configs.items():
            results = {s: [] for s in servers}
            for _ in range(args.rounds):
                for s, cmd in servers.items():
                    results[s].append(one_run(cmd, client, client_args, args.seconds,
                                              args.warmup, cores))
            unit = "connection" if "handshake" in name else "message"
            print(f"\n## {name}\n")
            print(f"| server | server CPU us/{unit} (median) | min-max | per s | ratio to raw |")
            print("|---|---|---|---|---|")
            raw = statistics.median(r["cpu_us"] for r in results["raw-openssl"])
            for s, rs in results.items():
                cpu = [r["cpu_us"] for r in rs]
                med = statistics.median(cpu)
                rate = statistics.median(r["rate"] for r in rs)
                print(f"| {s} | {med:.2f} | {min(cpu):.2f}-{max(cpu):.2f} | {rate:.0f} | "
                      f"{med / raw:.3f} |")
            sys.stdout.flush()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
