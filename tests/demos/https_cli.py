#!/usr/bin/env python3
"""HTTPS in the demos, driven as a user would: http_server --tls-cert/--tls-key
serving a folder to curl --cacert (a 1 MiB file, sha256 compared, and /hello
with ALPN http/1.1) and to http_get https:// (two URLs on one keep-alive TLS
connection; refused without the CA: exit 3); http_get against `openssl
s_server -WWW` (another TLS implementation, HTTP/1.0, body until close);
argument errors. Certificates are made for the run with the openssl command.
Usage: https_cli.py path/to/http_server path/to/http_get BACKEND"""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from demo_process import check, finish, start

server, get, backend = sys.argv[1], sys.argv[2], sys.argv[3]
TIMEOUT = 30


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


folder = tempfile.mkdtemp(prefix="corio-https-")
procs = []
try:
    ca, ca_key = os.path.join(folder, "ca.pem"), os.path.join(folder, "ca.key")
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca, "-subj", "/CN=corio test CA", "-days", "1",
            "-addext", "basicConstraints=critical,CA:TRUE")
    csr = os.path.join(folder, "cert.csr")
    ext = os.path.join(folder, "leaf.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            key, "-out", csr, "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "1", "-extfile", ext)
    root = os.path.join(folder, "site")
    os.mkdir(root)
    data = os.urandom(1 << 20)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(data)
    digest = hashlib.sha256(data).hexdigest()

    # Argument errors.
    r = subprocess.run([server, "--tls-cert", cert], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "--tls-cert and --tls-key" in r.stderr, f"half TLS args: {r}")
    r = subprocess.run([server, "--port", "0", "--tls-cert", cert, "--tls-key", ca],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "--tls-key" in r.stderr, f"key of another cert: {r}")
    r = subprocess.run([get, "ftp://x/"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2, f"ftp URL: {r}")

    p, port = start([server, "--root", root, "--port", "0", "--threads", "2", "--backend",
                     backend, "--tls-cert", cert, "--tls-key", key])
    procs.append(p)
    base = f"https://localhost:{port}"

    if shutil.which("curl"):
        r = subprocess.run(["curl", "-sS", "--cacert", ca, "--resolve",
                            f"localhost:{port}:127.0.0.1", f"{base}/big.bin"],
                           capture_output=True, timeout=TIMEOUT)
        check(r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == digest,
              f"curl big.bin: rc={r.returncode} {len(r.stdout)} bytes {r.stderr!r}")
        r = subprocess.run(["curl", "-sS", "-v", "--cacert", ca, "--resolve",
                            f"localhost:{port}:127.0.0.1", f"{base}/hello"],
                           capture_output=True, timeout=TIMEOUT)
        check(r.returncode == 0 and r.stdout == b"hello", f"curl /hello: {r}")
        check(b"ALPN: server accepted http/1.1" in r.stderr or b"ALPN, server accepted" in r.stderr,
              f"curl: no ALPN http/1.1: {r.stderr[-400:]!r}")

    out = os.path.join(folder, "out.bin")
    r = subprocess.run([get, f"{base}/big.bin", f"{base}/hello", "--cacert", ca, "-o", out,
                        "--backend", backend], capture_output=True, text=True, timeout=TIMEOUT)
    with open(out, "rb") as f:
        got = f.read()
    check(r.returncode == 0 and got == data + b"hello",
          f"http_get https: rc={r.returncode} {len(got)} bytes {r.stderr!r}")
    r = subprocess.run([get, f"https://127.0.0.1:{port}/hello", "--cacert", ca, "--backend",
                        backend], capture_output=True, timeout=TIMEOUT)
    check(r.returncode == 0 and r.stdout == b"hello", f"http_get by IP: {r}")
    r = subprocess.run([get, f"{base}/hello", "--backend", backend], capture_output=True,
                       text=True, timeout=TIMEOUT)
    check(r.returncode == 3 and "certificate" in r.stderr, f"http_get without the CA: {r}")

    p.send_signal(signal.SIGINT)
    p.communicate(timeout=TIMEOUT)
    check(p.returncode == 0, f"http_server exit {p.returncode}")

    # http_get against another TLS server: openssl s_server -WWW (files from its folder).
    s = subprocess.Popen(["openssl", "s_server", "-accept", "0", "-WWW", "-cert", cert, "-key",
                          key], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    procs.append(s)
    sport = None
    for _ in range(50):
        line = s.stdout.readline()
        if "ACCEPT" in line:
            sport = int(line.strip().rsplit(":", 1)[1])
            break
    check(sport is not None, "openssl s_server -WWW did not start")
    if sport:
        r = subprocess.run([get, f"https://localhost:{sport}/big.bin", "--cacert", ca,
                            "--backend", backend], capture_output=True, timeout=TIMEOUT)
        check(r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == digest,
              f"http_get from s_server -WWW: rc={r.returncode} {len(r.stdout)} bytes {r.stderr!r}")
finally:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(folder, ignore_errors=True)

finish("https: ok")
