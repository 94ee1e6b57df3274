#!/usr/bin/env python3
"""corio's http_server beside nginx: wrk requests/s, p99 latency and server CPU per request.

Serves one site from each server, all pinned to the same core(s): nginx (1 worker,
sendfile on, tcp_nopush on, access_log off, keep-alive without a request limit,
/hello answered by `return 200 "hello"`, its from-memory answer) and http_server
--threads 1 on each backend asked for (uring, epoll), /hello from memory. For each
case (/hello, a 4 KiB file, a 1 MiB file) and round, each server in turn (the order
rotates every round, so drift on a shared machine hits them alike) gets
`wrk -t1 -cCONNECTIONS -dSECONDS --latency`, pinned to the client core(s), and its
user+system CPU time is read from /proc/PID/stat (nginx: master and worker) before
and after. Prints, per case, the median requests/s, p99 and CPU microseconds per
request of each server (and its user and system parts), and the ratios to nginx
(CPU below 1.00x: corio spends less per request; p99 below 1.00x: corio's tail
is shorter). wrk's own CPU per
request is shown beside it, and the server's and wrk's together as a ratio to
nginx's: on loopback the kernel charges the TCP work of a transfer to whichever
side drives it (the sender's call, or the reader's acknowledgements), so the
server's CPU alone can flatter a server that leaves the delivery to the client,
or penalize one that takes it on.

Beside them, for /hello only, the floor: bench/peers/raw_epoll_echo --http (found next
to the server's build, or --raw PATH; --raw '' leaves it out), a hand-written epoll loop
that answers each request head with a fixed answer and does nothing else, so its CPU per
request is the kernel's part of the work plus almost none of its own.

The ratios to nginx are the median of each round's ratio (the servers of one round
run back to back, so drift on a shared machine cancels), with the lowest and highest
round beside the CPU ratio.

With --tls both serve HTTPS with one ECDSA P-256 certificate made for the run
(nginx: `listen ... ssl`, TLS 1.2 and 1.3, its default ciphers and session
tickets; http_server --tls-cert/--tls-key): wrk's keep-alive connections make
one handshake each, so the figure is the cost of a request with its records
encrypted and decrypted.

  bench/compare_http.py --server build/bench/demos/http_server --rounds 5 --seconds 5
  bench/compare_http.py --server build/bench/demos/http_server --tls
"""
import argparse
import getpass
import os
import re
import shutil
import resource
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_times, free_port, make_cert, start_pinned, stop, wait_port  # noqa: E402


def family(pid):
    """The process and its children (nginx's workers)."""
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        pids += [int(x) for x in out.split()]
    except OSError:
        pass
    return pids


def nginx_conf(work, site, port, tls=None):
    user = getpass.getuser()
    lines = [
        "worker_processes 1;",
        f"pid {work}/nginx.pid;",
        f"error_log {work}/error.log warn;",
        # As root the worker would drop to nobody, who cannot read the site.
        f"user {user};" if os.geteuid() == 0 else "",
        "events { worker_connections 4096; }",
        "http {",
        "  access_log off;",
        "  sendfile on;",
        "  tcp_nopush on;",
        "  keepalive_timeout 65;",
        "  keepalive_requests 1000000000;",
        "  default_type application/octet-stream;",
        f"  client_body_temp_path {work}/body;",
        f"  proxy_temp_path {work}/proxy;",
        f"  fastcgi_temp_path {work}/fastcgi;",
        f"  uwsgi_temp_path {work}/uwsgi;",
        f"  scgi_temp_path {work}/scgi;",
        "  server {",
        f"    listen 127.0.0.1:{port}{' ssl' if tls else ''};",
        f"    ssl_certificate {tls[0]};" if tls else "",
        f"    ssl_certificate_key {tls[1]};" if tls else "",
        "    ssl_protocols TLSv1.2 TLSv1.3;" if tls else "",
        f"    root {site};",
        '    location = /hello { return 200 "hello"; }',
        "  }",
        "}",
    ]
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url, args):
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", url]
    if args.client_cores:
        cmd = ["taskset", "-c", args.client_cores] + cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out = run.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not (rps and p99 and total):
        sys.exit(f"cannot read wrk's output for {url} (exit {run.returncode}):\n{out}{run.stderr}")
    if errors:
        sys.exit(f"{url}: {errors.group(1)} error answers")
    return (float(rps.group(1)), float(p99.group(1)) * UNITS[p99.group(2)], int(total.group(1)),
            client_cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="path to http_server")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--backends", default="uring,epoll")
    ap.add_argument("--raw", default=None,
                    help="raw_epoll_echo for the /hello floor (default: next to the server's "
                         "build; '' for none)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="wrk -d per measurement")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--server-cores", default="0", help="taskset list for every server")
    ap.add_argument("--client-cores", default="1", help="taskset list for wrk")
    ap.add_argument("--tls", action="store_true", help="HTTPS on both servers")
    ap.add_argument("--cases", default="hello,4k,1m", help="which of hello,4k,1m to run")
    args = ap.parse_args()
    if args.raw is None:
        found = os.path.join(os.path.dirname(os.path.abspath(args.server)), "..", "bench", "peers",
                             "raw_epoll_echo")
        args.raw = found if os.path.exists(found) else ""
    for tool in ("wrk", args.nginx, "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (scripts/setup.sh bench installs nginx-light and wrk)")

    work = tempfile.mkdtemp(prefix="corio-http-bench-")
    os.chmod(work, 0o755)
    site = os.path.join(work, "site")
    os.mkdir(site)
    with open(os.path.join(site, "4k.bin"), "wb") as f:
        f.write(os.urandom(4096))
    with open(os.path.join(site, "1m.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))
    all_cases = {"hello": ("/hello", "/hello"), "4k": ("4 KiB file", "/4k.bin"),
                 "1m": ("1 MiB file", "/1m.bin")}
    try:
        cases = [all_cases[c] for c in args.cases.split(",")]
    except KeyError as e:
        sys.exit(f"--cases: unknown case {e}; known: {','.join(all_cases)}")

    servers = {}
    tls = make_cert(work) if args.tls else None
    scheme = "https" if tls else "http"
    tls_args = ["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []
    try:
        port = free_port()
        conf = nginx_conf(work, site, port, tls)
        servers["nginx"] = (start_pinned([args.nginx, "-p", work, "-c", conf, "-g", "daemon off;"],
                                         args.server_cores), port)
        for b in args.backends.split(","):
            port = free_port()
            servers[f"corio-{b}"] = (start_pinned([args.server, "--root", site, "--port", str(port),
                                                   "--threads", "1", "--backend", b] + tls_args,
                                                  args.server_cores), port)
        if args.raw and not args.tls and any(path == "/hello" for _, path in cases):
            port = free_port()
            servers["raw-epoll"] = (start_pinned([args.raw, "--http", "--port", str(port)],
                                                 args.server_cores), port)
        for name, (p, port) in servers.items():
            wait_port(port, p)

        names = list(servers)
        # The raw loop answers /hello and nothing else.
        runs = {(c, n) for c, path in cases for n in names if n != "raw-epoll" or path == "/hello"}
        results = {k: [] for k in runs}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for case, path in cases:
                for name in order:
                    if (case, name) not in runs:
                        continue
                    p, port = servers[name]
                    if p.poll() is not None:
                        sys.exit(f"{name} exited with {p.returncode}")
                    pids = family(p.pid)
                    before = [cpu_times(x) for x in pids]
                    rps, p99, total, client = wrk(f"{scheme}://127.0.0.1:{port}{path}", args)
                    after = [cpu_times(x) for x in pids]
                    user = sum(a[0] - b[0] for a, b in zip(after, before)) / total * 1e6
                    system = sum(a[1] - b[1] for a, b in zip(after, before)) / total * 1e6
                    cpu = user + system
                    results[(case, name)].append((rps, p99, cpu, client / total * 1e6, user, system))
                    print(f"round {r + 1} {case:11} {name:12} {rps:10.0f} req/s  p99 {p99:7.2f} ms  "
                          f"{cpu:6.2f} us CPU/req (user {user:5.2f})  wrk {client / total * 1e6:6.2f}",
                          file=sys.stderr)

        print(f"\n{scheme}: wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds, medians; "
              f"servers on cores {args.server_cores}, wrk on {args.client_cores}\n")
        print("| case | server | requests/s | p99 ms | CPU us/request | user | system | CPU vs nginx (rounds) "
              "| p99 vs nginx | wrk CPU us/request | server+wrk vs nginx |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for case, _ in cases:
            base = results[(case, "nginx")]
            for name in names:
                if (case, name) not in runs:
                    continue
                rows = results[(case, name)]

                def med(i):
                    return statistics.median(x[i] for x in rows)

                def vs_nginx(f):  # each round's ratio to nginx's
                    return [f(x) / f(b) for x, b in zip(rows, base)]

                cpu_ratios = vs_nginx(lambda x: x[2])
                print(f"| {case} | {name} | {med(0):,.0f} | {med(1):.2f} | {med(2):.2f} | {med(4):.2f} | "
                      f"{med(5):.2f} | {statistics.median(cpu_ratios):.2f}x "
                      f"({min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}) | "
                      f"{statistics.median(vs_nginx(lambda x: x[1])):.2f}x | {med(3):.2f} | "
                      f"{statistics.median(vs_nginx(lambda x: x[2] + x[3])):.2f}x |")
    finally:
        for p, _ in servers.values():
            stop(p, timeout=15)  # SIGINT: http_server's graceful stop; nginx's fast shutdown
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
