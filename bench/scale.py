#!/usr/bin/env python3
"""Connection scale: how many connections corio's echo_server holds, what
each costs, and what it does at its descriptor limit.

Three runs, each bounded (60 s) and each cleaning up every process it
started, even when it fails:

  fill    one echo_server (--threads 2) filled to --fill
          connections by several echo_client --idle processes, each from
          its own 127.0.0.x source addresses; one message echoed on each at
          open and again after the hold, then all closed. Peak server RSS,
          bytes per connection, time to connect them all, how many survived.
  reuse   --reuse-total connections over several echo_server processes that
          share one port with SO_REUSEPORT, from several echo_client
          processes: per-process counts, total survived, total server RSS.
  emfile  one echo_server under `ulimit -n 200` and 300 clients: it must say
          EMFILE once, keep echoing on the connections it has, not spin
          (CPU time over 2 s at the limit), and accept again once some close.

Every process here may open at most `ulimit -Hn` descriptors (20,000 on the
machines this was written for), so one server or one client never holds
more than that; the runs are sized to fit.

  cmake -S . -B build/scale -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build/scale -j2 --target echo_server echo_client
  bench/scale.py --build build/scale

Python 3 standard library only; Linux only (/proc).
"""
import argparse
import atexit
import math
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import cpu_seconds, meminfo_kib, status_kib  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
RUN_LIMIT = 60.0  # seconds, per run

# Every process this script starts, so that nothing outlives it.
children = []


def cleanup():
    for p in children:
        if p.poll() is None:
            try:
                p.terminate()
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 3
    for p in children:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    children.clear()


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


atexit.register(cleanup)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGHUP, on_signal)


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    children.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=5):
    """Stops `p` (SIGTERM, then SIGKILL); returns its exit code."""
    rc = benchlib.stop(p, sig, timeout)
    if p in children:
        children.remove(p)
    return rc


# ---- /proc ---------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def tcp_mem_kib():
    """Kernel memory in TCP socket buffers, all sockets (both ends on loopback)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                m = re.search(r"\bmem (\d+)", line)
                return int(m.group(1)) * PAGE // 1024 if m else 0
    return 0


def read_first(path, default="?"):
    try:
        with open(path) as f:
            return f.read().split("\n")[0].strip()
    except OSError:
        return default


def mem_available_kib():
    return meminfo_kib("MemAvailable")


# ---- Processes -------------------------------------------------------------

def start_server(build, args, limit_fds=None):
    """Starts echo_server; returns (process, port, stderr file)."""
    exe = f"{build}/demos/echo_server"
    cmd = [exe] + args
    if limit_fds:
        cmd = ["bash", "-c", f'ulimit -n {limit_fds} && exec "$0" "$@"'] + cmd
    err = tempfile.TemporaryFile(mode="w+")
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on .*:(\d+) ", line)
    if not m:
        stop(p)
        err.seek(0)
        raise RuntimeError(f"echo_server did not start: {line!r} {err.read()}")
    return p, int(m.group(1)), err


def start_client(build, port, n, source, hold, backend):
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    cmd = [f"{build}/demos/echo_client", "--port", str(port), "--idle", str(n),
           "--duration", str(hold), "--threads", "1", "--timeout", "20", "--backend", backend]
    if source:
        cmd += ["--source", source]
    return spawn(cmd, stdout=out, stderr=err, text=True), out, err


def client_result(p, out, err):
    out.seek(0)
    text = out.read()
    m = re.search(r"RESULT idle_connections=(\d+) survived=(\d+) open_seconds=([\d.]+)", text)
    if not m:
        err.seek(0)
        tail = err.read()[-600:]
        return {"n": 0, "survived": 0, "open_s": float("nan"),
                "error": f"exit {p.returncode}: {text[-300:]} {tail}"}
    first_error = re.search(r"errors: \d+, the first: (.*)", text)
    return {"n": int(m.group(1)), "survived": int(m.group(2)), "open_s": float(m.group(3)),
            "error": first_error.group(1) if first_error else None}


class Deadline:
    def __init__(self, seconds):
        self.at = time.monotonic() + seconds

    def left(self):
        return self.at - time.monotonic()

    def check(self, what):
        if self.left() <= 0:
            raise TimeoutError(f"{what}: over {RUN_LIMIT:.0f} s")


def client_source(j):
    """Client process j's first source address. echo_client spreads its
    connections over that address and the ones after it, as many as it needs
    (each takes 40% of the ephemeral port range, at most 20,000), so each
    process gets 16 addresses of its own: 127.0.0.1, 127.0.0.17, ..."""
    return f"127.0.0.{1 + 16 * j}"


def split(total, parts):
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def hold_and_watch(servers, base, clients, deadline):
    """Waits for the clients to finish, sampling the servers. Returns per
    server the most connections seen (descriptors above `base`, its count
    before the clients started), its RSS while it held them (at the last
    sample that saw that many: the steady idle cost, after the open burst),
    the most kernel TCP buffer memory seen, and the most kernel slab memory
    (sockets, files, hash entries: both ends of every loopback connection,
    and whatever else the machine does meanwhile)."""
    peak_conns = [0] * len(servers)
    held_rss = [0] * len(servers)
    peak_tcp = 0
    peak_slab = 0
    last_fd_scan = 0.0
    while any(c.poll() is None for c in clients):
        deadline.check("clients still running")
        now = time.monotonic()
        if now - last_fd_scan >= 0.5:  # a /proc/PID/fd scan of 20,000 entries is not free
            for i, s in enumerate(servers):
                conns = fd_count(s.pid) - base[i]
                if conns >= peak_conns[i]:
                    peak_conns[i] = conns
                    held_rss[i] = status_kib(s.pid, "VmRSS")
            peak_tcp = max(peak_tcp, tcp_mem_kib())
            peak_slab = max(peak_slab, meminfo_kib("Slab"))
            last_fd_scan = now
        time.sleep(0.1)
    return peak_conns, held_rss, peak_tcp, peak_slab


def wait_closed(servers, base, deadline):
    """Seconds until every server is back to its starting descriptors."""
    t0 = time.monotonic()
    while any(fd_count(s.pid) > b for s, b in zip(servers, base)):
        deadline.check("server connections not closed")
        time.sleep(0.05)
    return time.monotonic() - t0


# ---- Run 1: one server filled to its descriptor limit -----------------------

def run_fill(build, backend, total, nclients, hold):
    deadline = Deadline(RUN_LIMIT)
    try:
        server, port, _ = start_server(build, ["--port", "0", "--threads", "2",
                                               "--grace", "1", "--backend", backend])
        time.sleep(0.2)
        base_rss = status_kib(server.pid, "VmRSS")
        base_fds = fd_count(server.pid)
        base_slab = meminfo_kib("Slab")
        cpu0 = cpu_seconds(server.pid)
        clients = [start_client(build, port, n, client_source(j), hold, backend)
                   for j, n in enumerate(split(total, nclients))]
        peak, held, tcp_kib, slab_kib = hold_and_watch([server], [base_fds],
                                                       [c[0] for c in clients], deadline)
        results = [client_result(*c) for c in clients]
        close_s = wait_closed([server], [base_fds], deadline)
        peak_rss = status_kib(server.pid, "VmHWM")
        cpu = cpu_seconds(server.pid) - cpu0
        rc = stop(server)
        survived = sum(r["survived"] for r in results)
        return {
            "backend": backend, "connections": total, "clients": nclients,
            "server_peak_conns": peak[0], "survived": survived,
            "open_s": max(r["open_s"] for r in results), "close_s": close_s,
            "base_rss_kib": base_rss, "peak_rss_kib": peak_rss, "held_rss_kib": held[0],
            "bytes_per_conn": (peak_rss - base_rss) * 1024 / max(survived, 1),
            "tcp_kib": tcp_kib,
            "slab_per_conn": (slab_kib - base_slab) * 1024 / max(survived, 1),
            "server_cpu_s": cpu, "server_rc": rc,
            "errors": [r["error"] for r in results if r["error"]],
        }
    finally:
        cleanup()


# ---- Run 2: many servers on one port (SO_REUSEPORT) -------------------------

def run_reuse(build, backend, total, nservers, nclients, hold):
    deadline = Deadline(RUN_LIMIT)
    common = ["--threads", "1", "--reuse-port", "--grace", "1",
              "--backend", backend]
    try:
        first, port, _ = start_server(build, ["--port", "0"] + common)
        servers = [first] + [start_server(build, ["--port", str(port)] + common)[0]
                             for _ in range(nservers - 1)]
        time.sleep(0.2)
        base_rss = [status_kib(s.pid, "VmRSS") for s in servers]
        base_fds = [fd_count(s.pid) for s in servers]
        base_slab = meminfo_kib("Slab")
        clients = [start_client(build, port, n, client_source(j), hold, backend)
                   for j, n in enumerate(split(total, nclients))]
        peak, held, tcp_kib, slab_kib = hold_and_watch(servers, base_fds,
                                                       [c[0] for c in clients], deadline)
        results = [client_result(*c) for c in clients]
        close_s = wait_closed(servers, base_fds, deadline)
        peak_rss = [status_kib(s.pid, "VmHWM") for s in servers]
        rcs = [stop(s) for s in servers]
        survived = sum(r["survived"] for r in results)
        return {
            "backend": backend, "connections": total, "servers": nservers, "clients": nclients,
            "server_conns": peak, "client_survived": [r["survived"] for r in results],
            "survived": survived, "open_s": max(r["open_s"] for r in results),
            "close_s": close_s, "base_rss_kib": sum(base_rss), "peak_rss_kib": sum(peak_rss),
            "held_rss_kib": sum(held),
            "bytes_per_conn": (sum(peak_rss) - sum(base_rss)) * 1024 / max(survived, 1),
            "tcp_kib": tcp_kib,
            "slab_per_conn": (slab_kib - base_slab) * 1024 / max(survived, 1),
            "server_rcs": rcs,
            "errors": [r["error"] for r in results if r["error"]],
        }
    finally:
        cleanup()


# ---- Run 3: the server at its descriptor limit -------------------------------

def echo_round(socks, wait_s, pending=None):
    """Waits up to `wait_s` for each socket in `pending` (default: all) to
    echo its 4-byte tag; returns the set of indexes that did."""
    sel = selectors.DefaultSelector()
    got = {}
    for i in (pending if pending is not None else range(len(socks))):
        sel.register(socks[i], selectors.EVENT_READ, i)
        got[i] = b""
    done = set()
    end = time.monotonic() + wait_s
    while got.keys() - done and time.monotonic() < end:
        for key, _ in sel.select(timeout=max(0.0, end - time.monotonic())):
            i = key.data
            try:
                data = key.fileobj.recv(64)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                continue
            got[i] += data
            if got[i] == b"%04d" % i:
                done.add(i)
                sel.unregister(key.fileobj)
    sel.close()
    return done


def run_emfile(build, backend, limit=200, nconns=300, close_some=50):
    deadline = Deadline(RUN_LIMIT)
    socks = []
    try:
        server, port, err = start_server(build, ["--port", "0", "--threads", "2",
                                                 "--grace", "1", "--backend", backend],
                                         limit_fds=limit)
        time.sleep(0.2)
        base_fds = fd_count(server.pid)
        for _ in range(nconns):  # the handshake completes from the backlog
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        for i, s in enumerate(socks):
            s.send(b"%04d" % i)
        served = echo_round(socks, 2.0)
        deadline.check("first echo round")

        # At the limit, with connections waiting in the backlog: CPU over 2 s.
        cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        time.sleep(2.0)
        cpu_s, window = cpu_seconds(server.pid) - cpu0, time.monotonic() - t0

        for i in served:
            socks[i].send(b"%04d" % i)
        again = echo_round(socks, 2.0, served)

        waiting = sorted(set(range(nconns)) - served)
        closed = sorted(served)[:close_some]
        for i in closed:
            socks[i].close()
        reaccepted = echo_round(socks, 3.0, waiting)  # their tags were sent long ago
        deadline.check("re-accept round")

        alive = server.poll() is None
        for s in socks:
            s.close()
        socks = []
        rc = stop(server)
        err.seek(0)
        log = err.read()
        return {
            "backend": backend, "limit": limit, "connections": nconns, "base_fds": base_fds,
            "served": len(served), "echo_again": len(again), "cpu_ms": cpu_s * 1000,
            "window_s": window, "emfile_msgs": log.count("pausing accepts"),
            "closed": len(closed), "waiting": len(waiting), "reaccepted": len(reaccepted),
            "alive": alive, "server_rc": rc,
            "message": next((l for l in log.splitlines() if "pausing accepts" in l), ""),
        }
    finally:
        for s in socks:
            s.close()
        cleanup()


# ---- Main ----------------------------------------------------------------------

def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--build", default="build/scale")
    ap.add_argument("--backends", default="uring,epoll",
                    help="backends for the fill and emfile runs (reuse runs on the first)")
    ap.add_argument("--fill", type=int, default=19000, help="connections to one server")
    ap.add_argument("--fill-clients", type=int, default=2)
    ap.add_argument("--reuse-total", type=int, default=100000)
    ap.add_argument("--reuse-servers", type=int, default=6)
    ap.add_argument("--reuse-clients", type=int, default=6)
    ap.add_argument("--hold", type=float, default=3, help="seconds to hold the connections")
    ap.add_argument("--runs", default="fill,reuse,emfile")
    args = ap.parse_args()
    for exe in ("echo_server", "echo_client"):
        if not os.access(f"{args.build}/demos/{exe}", os.X_OK):
            sys.exit(f"missing {args.build}/demos/{exe}: build it first (see --help)")
    backends = args.backends.split(",")
    if max(args.fill_clients, args.reuse_clients) > 15:
        sys.exit("at most 15 client processes (16 source addresses each in 127.0.0.0/24)")
    runs = args.runs.split(",")

    # What bounds a run here, checked before starting it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lo, hi = map(int, read_first("/proc/sys/net/ipv4/ip_local_port_range", "0 0").split())
    ports = hi - lo + 1
    avail = mem_available_kib()
    print(f"# connection scale, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.uname().nodename}, "
          f"Linux {os.uname().release}, {os.cpu_count()} cores")
    print(f"# descriptors per process: soft {soft}, hard {hard}; fs.file-max "
          f"{read_first('/proc/sys/fs/file-max')}; ephemeral ports {lo}-{hi} ({ports}); "
          f"MemAvailable {mib(avail)}; nf_conntrack_max "
          f"{read_first('/proc/sys/net/netfilter/nf_conntrack_max', 'n/a')}")
    per_proc = hard - 32  # a process's own descriptors (runtime, stdio) come first
    # Source ports are not a bound: each client spreads over enough source
    # addresses. Descriptors are: one server, or one client, holds at most
    # `hard` of them (SO_REUSEPORT spreads unevenly: 10% margin).
    if "fill" in runs and (args.fill > per_proc or
                           math.ceil(args.fill / args.fill_clients) > per_proc):
        sys.exit(f"--fill {args.fill} does not fit {hard} descriptors per process")
    if "reuse" in runs:
        if (math.ceil(args.reuse_total / args.reuse_clients) > per_proc or
                args.reuse_total / args.reuse_servers > per_proc * 0.9):
            sys.exit(f"--reuse-total {args.reuse_total} needs more servers or clients "
                     f"({hard} descriptors per process)")
        # Both ends of each connection live here: about 5 KiB of kernel
        # memory per pair when idle, plus the processes. 16 KiB leaves room.
        if avail < args.reuse_total * 16:
            sys.exit(f"MemAvailable {mib(avail)} is short of the ~{mib(args.reuse_total * 16)} "
                     "a reuse run may need")

    fill, reuse, emfile, failed = [], [], [], []

    def attempt(what, fn, *fn_args):
        """Runs one measurement; a run that fails or overruns is reported
        and the others still run (its processes are gone: cleanup())."""
        print(f"{what} ...", file=sys.stderr)
        try:
            return [fn(*fn_args)]
        except (OSError, RuntimeError, TimeoutError) as e:
            failed.append(f"{what}: {e}")
            return []

    for b in backends:
        if "fill" in runs:
            fill += attempt(f"fill: {b}, {args.fill} connections", run_fill, args.build, b,
                            args.fill, args.fill_clients, args.hold)
    if "reuse" in runs:
        b = backends[0]
        reuse += attempt(f"reuse: {b}, {args.reuse_total} connections", run_reuse, args.build,
                         b, args.reuse_total, args.reuse_servers, args.reuse_clients, args.hold)
    for b in backends:
        if "emfile" in runs:
            emfile += attempt(f"emfile: {b}", run_emfile, args.build, b)

    ok = not failed
    if fill:
        print(f"\n## One server (--threads 2), {args.fill_clients} client processes, "
              f"held {args.hold:g} s")
        print("| backend | connections | held by server | survived | connect all | closed after "
              "| server RSS before | held | peak | bytes/conn (peak) | kernel TCP buffers "
              "| kernel slab/conn | server CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in fill:
            print(f"| {r['backend']} | {r['connections']} | {r['server_peak_conns']} "
                  f"| {r['survived']} | {r['open_s']:.2f} s | {r['close_s']:.2f} s "
                  f"| {mib(r['base_rss_kib'])} | {mib(r['held_rss_kib'])} "
                  f"| {mib(r['peak_rss_kib'])} | {r['bytes_per_conn']:.0f} | {mib(r['tcp_kib'])} "
                  f"| {r['slab_per_conn']:.0f} | {r['server_cpu_s']:.2f} s |")
            ok &= r["survived"] == r["connections"] and not r["errors"] and r["server_rc"] == 0
            for e in r["errors"]:
                print(f"  {r['backend']}: client error: {e}")
    if reuse:
        print(f"\n## {args.reuse_total} connections, SO_REUSEPORT (--threads 1 each)")
        print("| backend | servers | connections per server | clients | survived per client "
              "| survived | connect all | closed after | total server RSS before | held | peak "
              "| bytes/conn (peak) | kernel TCP buffers | kernel slab/conn |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in reuse:
            print(f"| {r['backend']} | {r['servers']} | {' '.join(map(str, r['server_conns']))} "
                  f"| {r['clients']} | {' '.join(map(str, r['client_survived']))} "
                  f"| {r['survived']} | {r['open_s']:.2f} s | {r['close_s']:.2f} s "
                  f"| {mib(r['base_rss_kib'])} | {mib(r['held_rss_kib'])} "
                  f"| {mib(r['peak_rss_kib'])} | {r['bytes_per_conn']:.0f} | {mib(r['tcp_kib'])} "
                  f"| {r['slab_per_conn']:.0f} |")
            ok &= (r["survived"] == r["connections"] and not r["errors"]
                   and all(rc == 0 for rc in r["server_rcs"]))
            for e in r["errors"]:
                print(f"  {r['backend']}: client error: {e}")
    if emfile:
        print("\n## The server at its descriptor limit (ulimit -n 200, 300 clients)")
        print("| backend | served at the limit | EMFILE messages | echo again at the limit "
              "| server CPU over 2 s | closed | accepted again | server exit | verdict |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in emfile:
            good = (r["emfile_msgs"] == 1 and r["echo_again"] == r["served"] and r["served"] > 0
                    and r["cpu_ms"] < 100 and r["alive"] and r["server_rc"] == 0
                    and r["reaccepted"] == min(r["closed"], r["waiting"]))
            ok &= good
            print(f"| {r['backend']} | {r['served']} of {r['connections']} "
                  f"({r['base_fds']} fds its own) | {r['emfile_msgs']} "
                  f"| {r['echo_again']}/{r['served']} | {r['cpu_ms']:.0f} ms "
                  f"| {r['closed']} | {r['reaccepted']} of {r['waiting']} waiting "
                  f"| {r['server_rc']} | {'ok' if good else 'FAIL'} |")
        if emfile[0]["message"]:
            print(f"\nThe message: `{emfile[0]['message']}`")
    if fill or reuse:
        print("\nconnect all: the slowest client's time to connect and ping all its "
              "connections. closed after: how long after the last client exited the servers "
              "still held connections. bytes/conn: (peak server RSS - RSS before) / survived. "
              "kernel TCP buffers: the most seen in /proc/net/sockstat. kernel slab/conn: "
              "the rise of Slab in /proc/meminfo / survived, for both ends of each loopback "
              "connection (machine-wide, approximate).")
    for f in failed:
        print(f"\nFAILED {f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
