#!/usr/bin/env python3
"""TLS peers for tests/tls/peer_test.cpp, on Python's ssl module (OpenSSL):

  close_notify: reads until the client's close_notify, then answers
                "clean close after N bytes" and its own close_notify; a bare
                EOF (no close_notify) gets no answer.
  truncate:     sends "partial" and closes the socket without close_notify.

Prints "<MODE> <port>" for each listener (127.0.0.1, port 0), serves until
its stdin ends. Usage: tls_peer.py CERT KEY
"""
import socket
import ssl
import sys
import threading


def serve_close_notify(conn):
    got = 0
    try:
        while True:
            data = conn.recv(65536)
            if not data:  # close_notify (ragged EOFs raise, see below)
                break
            got += len(data)
    except (ssl.SSLError, OSError):
        return  # no close_notify: no answer
    conn.sendall(f"clean close after {got} bytes".encode())
    conn.unwrap()


def serve_truncate(conn):
    conn.sendall(b"partial")
    conn.shutdown(socket.SHUT_RDWR)  # the TCP end, without close_notify


def listen(ctx, mode, handler):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(mode, sock.getsockname()[1], flush=True)

    def loop():
        while True:
            raw, _ = sock.accept()
            try:
                conn = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            threading.Thread(target=lambda c=conn: (handler(c), c.close()), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    listen(ctx, "close_notify", serve_close_notify)
    listen(ctx, "truncate", serve_truncate)
    sys.stdin.read()


if __name__ == "__main__":
    main()
