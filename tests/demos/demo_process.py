"""What the demos' command-line tests share: their list of failed checks, a
demo server started with its port read from its first line, and its exit
awaited. Each test keeps going past a failed check and reports all of them
at the end (finish()).

The tests in this folder import it as it stands beside them (Python puts a
script's own folder first on sys.path); tests elsewhere put this folder on
sys.path first. Python 3 standard library only. The shell scripts'
counterpart is scripts/demo_process.sh.
"""
import re
import subprocess
import sys

failures = []


def check(cond, what):
    """Records `what` as a failure when `cond` is false."""
    if not cond:
        failures.append(what)


def start(cmd, text=True, says="listening on"):
    """Starts the demo `cmd` with stdout and stderr piped (as text, or bytes
    with text=False) and reads its first line, "NAME listening on
    127.0.0.1:PORT (...)" (`says` before the address); returns the process and
    PORT. Without that line the demo is killed and the test ends, FAILED."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text)
    line = p.stdout.readline()
    if not text:
        line = line.decode(errors="replace")
    m = re.search(re.escape(says) + r" 127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        p.wait()
        failures.append(f"no listening line: {line!r}")
        finish()
    return p, int(m.group(1))


def wait_exit(p, timeout=20):
    """The demo's exit code once it exits, or None when it has not within
    `timeout` seconds (it is killed then)."""
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return None


def finish(passed=None):
    """Ends the test: FAILED with every failed check (exit 1), else prints
    `passed` (when given)."""
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))
    if passed:
        print(passed)
