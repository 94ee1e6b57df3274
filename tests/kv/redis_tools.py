#!/usr/bin/env python3
"""The kv_server demo driven by the real Redis tools: redis-cli (piped and
interactive, on a pseudo-terminal) and redis-benchmark (every test the
performance table uses, -P 1 and -P 16, bounded request counts), then
SIGINT and exit 0.
Usage: redis_tools.py path/to/kv_server BACKEND"""
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demos"))
from demo_process import check, finish, start, wait_exit  # noqa: E402

server, backend = sys.argv[1], sys.argv[2]
p, port = start([server, "--port", "0", "--threads", "2", "--backend", backend])
port = str(port)


def cli(*args, stdin=None):
    r = subprocess.run(["redis-cli", "-p", port, *args], input=stdin, capture_output=True,
                       text=True, timeout=30)
    return r.stdout.strip()


# One command per run, then a piped session.
check(cli("PING") == "PONG", "redis-cli PING")
check(cli("SET", "greeting", "hello world") == "OK", "redis-cli SET")
check(cli("GET", "greeting") == "hello world", "redis-cli GET")
check(cli("INCRBY", "n", "41") == "41", "redis-cli INCRBY")
check(cli("GET", "nope") == "", "redis-cli GET of a missing key")
out = cli(stdin="SET a 1\nINCR a\nMGET a greeting\nDBSIZE\nSETEX x 1 y\n")
check(out.splitlines() == ["OK", "2", "2", "hello world", "3", "ERR unknown command 'SETEX', "
                           "with args beginning with: 'x' '1' 'y'"], f"piped session: {out!r}")

# Interactive, as a user types at a terminal.
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execvp("redis-cli", ["redis-cli", "-p", port])
buf = b""


def expect(pattern, timeout=15):
    global buf
    end = time.time() + timeout
    while time.time() < end:
        if re.search(pattern, buf):
            found, buf = buf, b""
            return found
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if b"\x1b[6n" in data:  # linenoise asks where the cursor is: answer like a terminal
                os.write(fd, b"\x1b[1;1R")
            buf += data
    check(False, f"interactive: no {pattern!r} in {buf[-300:]!r}")
    return b""


prompt = rb"127\.0\.0\.1:%s> " % port.encode()
expect(prompt)
for typed, answer in ((b"PING", rb"PONG"), (b"SET k \"two words\"", rb"OK"),
                      (b"GET k", rb"\"two words\""), (b"TTL k", rb"\(integer\) -1"),
                      (b"KEYS *", rb"1\) "), (b"HELLO 3", rb"NOPROTO"),
                      (b"CLIENT SETNAME me", rb"OK"), (b"CLIENT GETNAME", rb"\"me\"")):
    os.write(fd, typed + b"\r")
    out = expect(answer + rb"[\s\S]*" + prompt)
    check(b"ERR" not in out or typed.startswith(b"HELLO"), f"interactive {typed!r}: {out!r}")
os.write(fd, b"QUIT\r")
_, status = os.waitpid(pid, 0)
check(os.waitstatus_to_exitcode(status) == 0, "redis-cli exit status")

# redis-benchmark: every test of the performance table, no errors.
tests = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"]
for pipeline in ("1", "16"):
    r = subprocess.run(["redis-benchmark", "-p", port, "-c", "50", "-n", "2000", "-P", pipeline,
                        "-t", "ping,set,get,incr,mset", "-q"], capture_output=True, text=True,
                       timeout=120)
    text = r.stdout + r.stderr
    check(r.returncode == 0, f"redis-benchmark -P {pipeline}: exit {r.returncode}")
    check("WARNING" not in text and "ERR" not in text, f"redis-benchmark -P {pipeline}: {text[-500:]!r}")
    for t in tests:
        check(re.search(re.escape(t) + r": [\d.]+ requests per second", text) is not None,
              f"redis-benchmark -P {pipeline}: no result for {t}")
check(cli("GET", "counter:__rand_int__").isdigit(), "redis-benchmark's INCR key")

p.send_signal(signal.SIGINT)
rc = wait_exit(p)
check(rc == 0, f"exit code after SIGINT: {rc}")

finish()
