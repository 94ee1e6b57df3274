#!/usr/bin/env python3
"""Drives the http_server demo as users would: curl (GET, HEAD, Range,
If-Modified-Since, keep-alive across --next), Python's http.client
(keep-alive, several requests), http_get (a download compared byte for
byte, keep-alive over several URLs, its exit codes), the access log, bad
arguments, graceful shutdown on SIGINT (exit 0), and two load generators
other than wrk: ab (HTTP/1.0, with and without keep-alive) and h2load
(HTTP/1.1 pipelined 16 deep; HTTP/2 with prior knowledge, refused without
harm to the server).
Usage: http_server_cli.py path/to/http_server path/to/http_get BACKEND"""
import email.utils
import hashlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from demo_process import check, finish, start, wait_exit

server, getter, backend = sys.argv[1], sys.argv[2], sys.argv[3]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=60, **kw)


root = tempfile.mkdtemp(prefix="corio-http-cli-")
try:
    big = os.urandom(3 * 1024 * 1024 + 123)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(big)
    with open(os.path.join(root, "a.txt"), "wb") as f:
        f.write(b"0123456789abcdefghij")
    os.mkdir(os.path.join(root, "dir"))
    with open(os.path.join(root, "dir", "index.html"), "wb") as f:
        f.write(b"<p>index</p>\n")

    # Bad arguments: usage and exit code 2.
    for bad in (["--port", "70000"], ["--root", os.path.join(root, "missing")],
                ["--header-timeout", "0"], ["--nope"]):
        r = run([server, *bad], text=True)
        check(r.returncode == 2 and "usage" in r.stderr.lower(), f"{bad}: rc={r.returncode}")

    p, port = start([server, "--root", root, "--port", "0", "--threads", "2",
                     "--backend", backend, "--log", "--header-timeout", "5"], text=False)
    base = f"http://127.0.0.1:{port}"

    # curl: GET, HEAD, Range, If-Modified-Since, keep-alive across --next.
    r = run(["curl", "-sS", "-o", "-", base + "/big.bin"])
    check(r.returncode == 0 and r.stdout == big, f"curl GET big.bin: rc={r.returncode} len={len(r.stdout)}")
    r = run(["curl", "-sS", "-I", base + "/a.txt"], text=True)
    check(r.returncode == 0 and "HTTP/1.1 200" in r.stdout and "Content-Length: 20" in r.stdout,
          f"curl HEAD: {r.stdout!r}")
    modified = next((l.split(": ", 1)[1].strip() for l in r.stdout.splitlines()
                     if l.lower().startswith("last-modified:")), "")
    check(email.utils.parsedate_to_datetime(modified) is not None, f"Last-Modified: {modified!r}")
    r = run(["curl", "-sS", "-i", "-r", "5-9", base + "/a.txt"])
    check(b"HTTP/1.1 206" in r.stdout and r.stdout.endswith(b"\r\n\r\n56789")
          and b"Content-Range: bytes 5-9/20" in r.stdout, f"curl Range: {r.stdout!r}")
    r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-r", "100-", base + "/a.txt"],
            text=True)
    check(r.stdout == "416", f"curl unsatisfiable Range: {r.stdout}")
    r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
             f"If-Modified-Since: {modified}", base + "/a.txt"], text=True)
    check(r.stdout == "304", f"curl If-Modified-Since: {r.stdout}")
    r = run(["curl", "-sS", "-v", base + "/hello", "--next", base + "/a.txt", "--next",
             base + "/dir/"])
    check(r.stdout == b"hello0123456789abcdefghij<p>index</p>\n", f"curl --next: {r.stdout!r}")
    err = r.stderr.decode(errors="replace")
    check(err.count("Connected to") == 1 and "Re-using existing connection" in err,
          "curl --next did not reuse the connection")
    r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", base + "/dir"],
            text=True)
    check(r.stdout == f"301 {base}/dir/", f"curl /dir: {r.stdout}")

    # Python's http.client: several requests on one keep-alive connection.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    for path, status, body in (("/hello", 200, b"hello"), ("/a.txt", 200, b"0123456789abcdefghij"),
                               ("/missing", 404, None), ("/big.bin", 200, big)):
        c.request("GET", path)
        resp = c.getresponse()
        data = resp.read()
        check(resp.status == status, f"http.client {path}: {resp.status}")
        if body is not None:
            check(data == body, f"http.client {path}: body of {len(data)} bytes")
    c.request("HEAD", "/big.bin")
    resp = c.getresponse()
    check(resp.status == 200 and resp.getheader("Content-Length") == str(len(big))
          and resp.read() == b"", "http.client HEAD")
    c.request("GET", "/a.txt", headers={"Range": "bytes=-4"})
    resp = c.getresponse()
    check(resp.status == 206 and resp.read() == b"ghij", "http.client Range")
    c.close()

    # http_get: a download compared byte for byte, keep-alive, exit codes.
    out = os.path.join(root, "out.bin")
    r = run([getter, base + "/big.bin", "-o", out, "--backend", backend], text=True)
    with open(out, "rb") as f:
        got = f.read()
    check(r.returncode == 0 and hashlib.sha256(got).digest() == hashlib.sha256(big).digest(),
          f"http_get big.bin: rc={r.returncode} len={len(got)} {r.stderr}")
    check(r.stderr == "", f"http_get wrote on stderr off a terminal: {r.stderr!r}")
    r = run([getter, base + "/hello", f"http://localhost:{port}/a.txt", base + "/a.txt"])
    check(r.returncode == 0 and r.stdout == b"hello0123456789abcdefghij0123456789abcdefghij",
          f"http_get several: rc={r.returncode} {r.stdout!r}")
    for args, code in (([base + "/missing"], 5), ([base + "/dir"], 6),
                       (["http://127.0.0.1:1/"], 3), (["ftp://x/"], 2), ([], 2),
                       ([base + "/a.txt", "-o", os.path.join(root, "no", "such", "dir")], 1)):
        r = run([getter, *args])
        check(r.returncode == code, f"http_get {args}: rc={r.returncode}, expected {code}")
    r = run([getter, "--help"], text=True)
    check(r.returncode == 0 and "exit codes" in r.stdout, "http_get --help")

    # Clients that go away in the middle of a large body (sendfile then
    # meets a closed socket: EPIPE, never SIGPIPE) end only their connection.
    import socket
    import struct
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
            s.recv(1000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    r = run(["curl", "-sS", base + "/hello"])
    check(r.returncode == 0 and r.stdout == b"hello" and p.poll() is None,
          f"server after clients left mid-body: rc={r.returncode} alive={p.poll() is None}")

    # Graceful shutdown: exit 0; the access log has one line per request.
    p.send_signal(signal.SIGINT)
    rc = wait_exit(p)
    check(rc == 0, f"exit code after SIGINT: {rc}")
    log = p.stdout.read().decode()
    check('"GET /big.bin HTTP/1.1" 200 ' + str(len(big)) in log, "no access-log line for big.bin")
    check('"GET /a.txt HTTP/1.1" 206 5' in log, "no access-log line for the range")
    check(log.count('"GET /hello HTTP/1.1" 200 5') >= 3, "access-log lines for /hello")
    check("interrupted" in p.stderr.read().decode(), "no shutdown message")

    # Load generators other than wrk, against a server without the access
    # log (nobody reads its output while they run). Bounded counts.
    p, port = start([server, "--root", root, "--port", "0", "--threads", "2",
                     "--backend", backend], text=False)
    base = f"http://127.0.0.1:{port}"
    for args, n in ((["-k", "-c", "8", "-n", "4000", base + "/hello"], 4000),
                    (["-c", "4", "-n", "400", base + "/a.txt"], 400),
                    (["-k", "-c", "4", "-n", "40", base + "/big.bin"], 40)):
        r = run(["ab", "-q", *args], text=True)
        done = "Complete requests:      %d" % n in r.stdout and "Failed requests:        0" in r.stdout
        keep = "-k" not in args or "Keep-Alive requests:    %d" % n in r.stdout
        check(r.returncode == 0 and done and keep and "Non-2xx" not in r.stdout,
              f"ab {args}: rc={r.returncode}\n{r.stdout}{r.stderr}")
    r = run(["h2load", "--h1", "-n", "8000", "-c", "4", "-m", "16", base + "/hello"], text=True)
    check(r.returncode == 0 and "8000 succeeded, 0 failed, 0 errored" in r.stdout
          and "8000 2xx" in r.stdout, f"h2load --h1 -m 16: {r.stdout}{r.stderr}")
    r = run(["h2load", "-n", "4", "-c", "1", base + "/hello"], text=True)
    check("0 succeeded" in r.stdout, f"h2load over HTTP/2 was answered: {r.stdout}")
    r = run(["curl", "-sS", base + "/hello"])
    check(r.returncode == 0 and r.stdout == b"hello" and p.poll() is None,
          f"server after an HTTP/2 client: rc={r.returncode} alive={p.poll() is None}")
    p.send_signal(signal.SIGINT)
    check(wait_exit(p) == 0, "exit code after SIGINT (load generators)")
finally:
    shutil.rmtree(root, ignore_errors=True)

finish("http_server behaves")
