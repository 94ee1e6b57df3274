#!/usr/bin/env python3
"""Prints corio/Asio ratios from Google Benchmark JSON output.

Usage:
  corio_micro --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \\
      --benchmark_out=micro.json --benchmark_out_format=json
  python3 bench/micro/compare.py micro.json [more.json ...] [--stat median|mean]

Cases are named "<runtime>/<case>[/arg:value...]": "corio/..." (io_uring),
"corio-epoll/...", "asio/..." (Asio as a server runs it), "asio-bare/..."
(an io_context without a reactor, where a case has one). Each corio case is
paired with every Asio case of the same name. For each pair the table shows wall time and process CPU time
per iteration (the chosen aggregate over the repetitions, default the
median), their corio/asio ratios (below 1: corio is faster) and the
repetitions' coefficient of variation, which says how far to trust a ratio.
Standard library only.
"""

import argparse
import json
import sys
from collections import OrderedDict

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Suffixes that Google Benchmark appends to a run's name for its options.
OPTION_SUFFIXES = ("/process_time", "/real_time", "/manual_time", "/min_time", "/repeats", "/iterations")


def case_of(run_name):
    """('corio', 'timer_arm_cancel/bg:0') from a run name, options stripped."""
    runtime, _, rest = run_name.partition("/")
    parts = [p for p in rest.split("/") if not any(("/" + p).startswith(s) for s in OPTION_SUFFIXES)]
    return runtime, "/".join(parts)


def load(paths, stat):
    """{case: {runtime: {'real': ns, 'cpu': ns, 'cv': fraction or None}}}, in file order."""
    table = OrderedDict()
    plain = {}  # run name -> [(real, cpu)] when there are no aggregates
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                print(f"note: {b['name']} failed: {b.get('error_message', '')}", file=sys.stderr)
                continue
            run_name = b.get("run_name", b["name"])
            runtime, case = case_of(run_name)
            scale = TO_NS[b.get("time_unit", "ns")]
            real, cpu = b["real_time"] * scale, b["cpu_time"] * scale
            slot = table.setdefault(case, OrderedDict()).setdefault(runtime, {})
            if b.get("run_type") == "aggregate":
                name = b.get("aggregate_name")
                if name == stat:
                    slot["real"], slot["cpu"] = real, cpu
                    for counter in ("user_ns", "sys_ns"):
                        if counter in b:
                            slot[counter] = b[counter]
                elif name == "cv":
                    # The cv aggregate's times are fractions, not durations.
                    slot["cv"] = b["real_time"]
            else:
                plain.setdefault((case, runtime), []).append((real, cpu))
                for counter in ("user_ns", "sys_ns"):
                    if counter in b:
                        slot.setdefault(counter + "_runs", []).append(b[counter])
    for (case, runtime), runs in plain.items():
        slot = table[case][runtime]
        if "real" not in slot:
            reals = sorted(r for r, _ in runs)
            cpus = sorted(c for _, c in runs)
            slot["real"], slot["cpu"] = reals[len(reals) // 2], cpus[len(cpus) // 2]
            for counter in ("user_ns", "sys_ns"):
                runs_of = sorted(slot.pop(counter + "_runs", []))
                if runs_of:
                    slot[counter] = runs_of[len(runs_of) // 2]
    return table


def any_aggregates(table):
    return any("cv" in r for runtimes in table.values() for r in runtimes.values())


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.1f} ns"


def fmt_cv(cv):
    return "-" if cv is None else f"{100 * cv:.0f}%"


def print_split(table):
    """Where each runtime's CPU time goes: user space (the runtime's own
    bookkeeping) or the kernel, per iteration, from getrusage over the loop."""
    rows = []
    for case, runtimes in table.items():
        for runtime, r in runtimes.items():
            if "user_ns" in r and "sys_ns" in r:
                rows.append((case, runtime, fmt_ns(r["user_ns"]), fmt_ns(r["sys_ns"])))
    if not rows:
        return
    header = ("case", "runtime", "user", "sys")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print("\nCPU time per iteration, user space and kernel (getrusage over the timed loop):")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="Google Benchmark --benchmark_out JSON files")
    ap.add_argument("--stat", default="median", choices=["median", "mean"],
                    help="which aggregate of the repetitions to compare (default: median)")
    args = ap.parse_args()

    table = load(args.json, args.stat)
    header = ("case", "corio", "vs", "corio wall", "wall", "ratio", "corio cpu", "cpu", "ratio", "cv")
    rows = []
    unpaired = []
    for case, runtimes in table.items():
        baselines = [(n, r) for n, r in runtimes.items() if n.startswith("asio") and "real" in r]
        for runtime, r in runtimes.items():
            if runtime.startswith("asio") or "real" not in r:
                continue
            if not baselines:
                unpaired.append(f"{runtime}/{case}")
            for base_name, base in baselines:
                cv = max((x for x in (r.get("cv"), base.get("cv")) if x is not None), default=None)
                rows.append((case, runtime, base_name, fmt_ns(r["real"]), fmt_ns(base["real"]),
                             f"{r['real'] / base['real']:.2f}", fmt_ns(r["cpu"]), fmt_ns(base["cpu"]),
                             f"{r['cpu'] / base['cpu']:.2f}", fmt_cv(cv)))
    if not rows:
        print("no corio/asio pairs found", file=sys.stderr)
        return 1
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    print(f"\n{args.stat} of {'the repetitions' if any_aggregates(table) else 'the runs'} per "
          "iteration; ratio = corio / the Asio case in 'vs' (below 1: corio faster); wall = real "
          "time, cpu = CPU time of the whole process; cv = the larger coefficient of variation "
          "of the pair over the repetitions")
    print_split(table)
    for name in unpaired:
        print(f"note: no asio case for {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
