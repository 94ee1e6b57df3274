"""What the bench scripts share: a server started (pinned with taskset) and
its port found, stopped, its CPU time and memory read from /proc (Linux), a
certificate made for a TLS run, and the RESULT line of corio's load
generators read.

The scripts put their own folder first on sys.path and import this; Python 3
standard library only.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


# ---- Servers -----------------------------------------------------------------

def start_server(cmd, core):
    """Starts `cmd` pinned to `core`, stdout and stderr piped; returns the
    process and the port of its first line ("... listening on HOST:PORT ...")."""
    p = subprocess.Popen(["taskset", "-c", str(core)] + cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r":(\d+)\b", line)
    if not m:
        p.kill()
        raise RuntimeError(f"{cmd[0]} did not report a port: {line!r} {p.stderr.read()}")
    return p, int(m.group(1))


def start_pinned(cmd, cores):
    """Starts `cmd` (pinned to the taskset list `cores`, when not empty) with
    its output discarded: for servers told their port (free_port, wait_port)."""
    full = (["taskset", "-c", cores] if cores else []) + cmd
    return subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    """Returns once 127.0.0.1:`port` accepts a connection; exits the script when
    `proc` exits first or nothing listens within `timeout` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"server did not listen on {port}")


def stop(p, sig=signal.SIGINT, timeout=5):
    """Stops `p` with `sig` (SIGINT: the demos' graceful stop), then SIGKILL
    after `timeout` seconds; returns its exit code."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


# ---- /proc -------------------------------------------------------------------

def cpu_times(pid):
    """The process's user and system CPU seconds so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime


def cpu_seconds(pid):
    """The process's user + system CPU seconds so far."""
    user, system = cpu_times(pid)
    return user + system


def kib_field(path, key):
    """The KiB figure of the line "KEY: N kB" of a /proc file (/proc/meminfo,
    /proc/PID/status); 0 when it has none."""
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def status_kib(pid, key="VmRSS"):
    """A KiB figure of the process's /proc/PID/status (VmRSS, VmHWM, ...)."""
    return kib_field(f"/proc/{pid}/status", key)


def meminfo_kib(key):
    """A KiB figure of the machine's /proc/meminfo (MemAvailable, Slab, ...)."""
    return kib_field("/proc/meminfo", key)


# ---- Load generators and TLS -------------------------------------------------

def parse_result(text):
    """The key=value pairs of the "RESULT ..." line that echo_client and
    udp_echo's client print, as floats."""
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    raise RuntimeError("no RESULT line in load generator output:\n" + text)


def make_cert(folder):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1, valid one day, made
    in `folder` with the openssl command; returns (cert path, key path)."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-days", "1"], check=True, capture_output=True)
    return cert, key
