#!/usr/bin/env python3
"""The proxy demo terminating TLS (--tls-cert/--tls-key), driven as a user
would: argument errors (exit 2) and an unreadable certificate (exit 1);
then, through one proxy in front of a plain TCP target,
  1. a Python ssl client (verifying the certificate and host name) sends
     4 MB and reads 4 MB back, sha256 compared at both ends; the target's
     end reaches the client as close_notify, and the client's close_notify
     reaches the target as a half-close (EOF);
  2. curl --cacert fetches a page over HTTPS from an HTTP/1.1 target;
  3. a client that sends garbage instead of a ClientHello is refused: the
     proxy's line for it says why, and the target never sees it.
The proxy exits 0 after --max-connections 3 with a summary counting one
failure. Certificates are made for the run with the openssl command.
Usage: proxy_tls.py path/to/proxy BACKEND"""
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading

from demo_process import check, finish, start

proxy, backend = sys.argv[1], sys.argv[2]
SIZE = 4 * 1024 * 1024
TIMEOUT = 30


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(min(1 << 16, n - len(out)))
        if not b:
            break
        out += b
    return bytes(out)


folder = tempfile.mkdtemp(prefix="corio-proxy-tls-")
try:
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1"],
                   check=True, capture_output=True)

    # Argument errors.
    for bad in (["--to", "127.0.0.1:1", "--tls-cert", cert],
                ["--to", "127.0.0.1:1", "--tls-key", key]):
        r = subprocess.run([proxy, *bad], capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and "--tls-cert and --tls-key" in r.stderr,
              f"{bad}: rc={r.returncode} {r.stderr!r}")
    r = subprocess.run([proxy, "--to", "127.0.0.1:1", "--tls-cert", key + ".missing",
                        "--tls-key", key], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "--tls-cert" in r.stderr, f"missing cert: rc={r.returncode} {r.stderr!r}")

    up_data, down_data = os.urandom(SIZE), os.urandom(SIZE)
    body = b"hello through TLS\n" * 1000

    # The target: plain TCP, one connection per scenario, in order.
    target = socket.create_server(("127.0.0.1", 0))
    target_port = target.getsockname()[1]

    def target_side():
        target.settimeout(TIMEOUT)
        conn, _ = target.accept()  # 1: length-prefixed data, then the client's end
        with conn:
            conn.settimeout(TIMEOUT)
            n = struct.unpack("!Q", recv_exact(conn, 8))[0]
            got = recv_exact(conn, n)
            check(hashlib.sha256(got).digest() == hashlib.sha256(up_data).digest(),
                  f"target got {len(got)} bytes, not the client's")
            conn.sendall(down_data)
            conn.shutdown(socket.SHUT_WR)
            check(conn.recv(1) == b"", "target: the client's close_notify did not arrive as EOF")
        conn, _ = target.accept()  # 2: curl
        with conn:
            conn.settimeout(TIMEOUT)
            request = b""
            while b"\r\n\r\n" not in request:
                b = conn.recv(4096)
                if not b:
                    break
                request += b
            check(request.startswith(b"GET /page HTTP/1.1\r\n"), f"target: request {request[:60]!r}")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % len(body) + body)

    target_thread = threading.Thread(target=target_side, daemon=True)
    target_thread.start()

    p, port = start([proxy, "--listen", "0", "--to", f"127.0.0.1:{target_port}",
                     "--threads", "2", "--backend", backend, "--max-connections", "3",
                     "--tls-cert", cert, "--tls-key", key])

    # 1. Python ssl client, verifying.
    ctx = ssl.create_default_context(cafile=cert)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as s:
            s.sendall(struct.pack("!Q", SIZE) + up_data)
            got = bytearray()
            while True:
                b = s.recv(1 << 16)  # b"" only for close_notify (ragged EOFs raise)
                if not b:
                    break
                got += b
            check(hashlib.sha256(got).digest() == hashlib.sha256(down_data).digest(),
                  f"client got {len(got)} bytes, not the target's")
            s.unwrap()  # our close_notify, answering the proxy's

    # 2. curl over HTTPS.
    if shutil.which("curl"):
        r = subprocess.run(["curl", "-sS", "--cacert", cert, "--resolve",
                            f"localhost:{port}:127.0.0.1", f"https://localhost:{port}/page"],
                           capture_output=True, timeout=TIMEOUT)
        check(r.returncode == 0 and r.stdout == body,
              f"curl: rc={r.returncode} {len(r.stdout)} bytes {r.stderr!r}")
    else:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /page HTTP/1.1\r\nHost: localhost\r\n\r\n")
                while s.recv(65536):
                    pass

    # 3. Garbage instead of a ClientHello.
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: not-tls\r\n\r\n")
        try:
            while raw.recv(4096):
                pass
        except ConnectionResetError:
            pass

    out, err = p.communicate(timeout=TIMEOUT)
    target_thread.join(TIMEOUT)
    target.setblocking(False)
    try:  # 3 never got through: the proxy has exited, nothing is waiting
        target.accept()[0].close()
        check(False, "target: the proxy connected for a failed handshake")
    except BlockingIOError:
        pass
    check(p.returncode == 0, f"proxy exit {p.returncode}: {err}")
    lines = out.splitlines()
    check(any(f"{SIZE + 8} bytes up" in l and f"{SIZE} bytes down" in l and "closed" in l
              for l in lines), f"no line for the 4 MB relay: {out}")
    check(any("#3" in l and "error" in l and "handshake" in l.lower() for l in lines),
          f"no handshake error for the garbage client: {out}")
    check("3 connections (1 failed)" in out, f"summary: {out}")
finally:
    shutil.rmtree(folder, ignore_errors=True)

finish("proxy TLS: ok")
