#!/usr/bin/env python3
"""What one lifecycle costs, against dirq and a raw floor, and what bulk create saves
(issue 15, targets 1, 2 and 3).

    python benchmarks/lifecycle_cost.py [--jobs N] [--rounds R] [--only cost,speed,durable,bulk]
                                        [--disk DIR] [--checkout DIR]

* ``cost``: per lifecycle, user instructions (callgrind) and system calls
  (``strace -c -f``) of fsjobstore's ``durable=False`` create, pull_work,
  fulfill, release, of dirq QueueSimple's put + lock + get + remove, and of
  the raw floor that keeps history and takes a lease. Each program runs twice,
  with N lifecycles and with none, and the difference is divided by N: start-up
  and imports are subtracted.
* ``speed``: the same two on tmpfs (``/dev/shm``), in alternating order, R
  rounds; the ratio is taken within each round and judged on the median.
* ``durable``: fsjobstore's durable lifecycle against the raw floor with the
  same four fsyncs and history kept, on the disk (``--disk``, default the
  benchmarks' out folder), rounds as above.

* ``bulk``: ``create_many`` of ``--bulk-jobs`` jobs (1,000) against a loop of as
  many ``create()`` calls: user instructions per job (callgrind, ``durable=False``),
  then speed in alternating rounds, not durable on tmpfs and durable on the disk.

``--checkout`` measures another checkout's fsjobstore (a before/after
comparison: run it once per checkout). Programs that need a missing tool
(valgrind, strace, dirq) are reported as not measured.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# One program per system: argv = folder, lifecycles, durable (0/1). It prints the
# lifecycles per second of the timed loop (after a warm-up outside it).
_FSJOBSTORE = """
import os, sys, time
from benchmarks.adapters.base import make_job
sys.path.insert(0, os.environ["FSJOBSTORE_CHECKOUT"])
from fsjobstore import JobStore
store = JobStore(sys.argv[1], durable=sys.argv[3] == "1", watch=False, create=True)
n, warm = int(sys.argv[2]), int(sys.argv[4])
def step(i):
    store.create(make_job(i))
    lease = store.pull_work()
    lease.fulfill(b"ok")
    lease.release()
for i in range(warm):  # imports, caches, the first holder record
    step(i)
started = time.perf_counter()
for i in range(n):
    step(i)
print(n / (time.perf_counter() - started) if n else 0)
store.close()
"""

_ADAPTER = """
import sys, time, pathlib, importlib
from benchmarks.adapters.base import make_job
module, cls = {adapter!r}
kind = getattr(importlib.import_module("benchmarks.adapters." + module), cls)
if hasattr(kind, "durable"):
    kind.durable = sys.argv[3] == "1"
adapter = kind(pathlib.Path(sys.argv[1]))
n, warm = int(sys.argv[2]), int(sys.argv[4])
def step(i):
    adapter.put(make_job(i))
    claimed = adapter.claim()
    adapter.done(claimed)
for i in range(warm):
    step(i)
started = time.perf_counter()
for i in range(n):
    step(i)
print(n / (time.perf_counter() - started) if n else 0)
adapter.close()
"""

# Creating N jobs, one call each or in one batch (argv as above; warm: one batch of that many first).
_CREATE = """
import os, sys, time
from benchmarks.adapters.base import make_job
sys.path.insert(0, os.environ["FSJOBSTORE_CHECKOUT"])
from fsjobstore import JobStore
store = JobStore(sys.argv[1], durable=sys.argv[3] == "1", watch=False, create=True)
n, warm = int(sys.argv[2]), int(sys.argv[4])
def make(requests):
    {make}
make([make_job(i) for i in range(warm)])
requests = [make_job(i) for i in range(n)]
started = time.perf_counter()
make(requests)
print(n / (time.perf_counter() - started) if n else 0)
store.close()
"""

PROGRAMS = {
    "fsjobstore": _FSJOBSTORE,
    "dirq-simple": _ADAPTER.format(adapter=("dirq_queues", "DirqSimple")),
    "raw-floor-kept": _ADAPTER.format(adapter=("raw_floor", "RawFloorKept")),
    "create-loop": _CREATE.format(make="for request in requests: store.create(request)"),
    "create-many": _CREATE.format(make="store.create_many(requests)"),
}
WARM = 50


def _run(system: str, folder: str, n: int, *, durable: bool, checkout: Path, prefix: list[str],
         warm: int = WARM) -> subprocess.CompletedProcess[str]:
    store = tempfile.mkdtemp(dir=folder)
    # The benchmarks from here, fsjobstore from *checkout* (put first on sys.path by the program).
    env = dict(os.environ, PYTHONPATH=str(ROOT), FSJOBSTORE_CHECKOUT=str(checkout), PYTHONHASHSEED="0")
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", PROGRAMS[system], os.path.join(store, "s"), str(n),
                               "1" if durable else "0", str(warm)],
                              env=env, capture_output=True, text=True, cwd=store)
        if done.returncode != 0:
            raise RuntimeError(f"{system} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done
    finally:
        shutil.rmtree(store, ignore_errors=True)


def instructions(system: str, folder: str, n: int, checkout: Path) -> float | None:
    """User instructions per lifecycle (callgrind), start-up subtracted."""
    if shutil.which("valgrind") is None:
        return None
    counts = []
    for jobs in (n, 0):
        out = _run(system, folder, jobs, durable=False, checkout=checkout,
                   prefix=["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"])
        found = re.search(r"Collected : (\d+)", out.stderr)
        if found is None:
            raise RuntimeError(f"no callgrind total in: {out.stderr[-500:]}")
        counts.append(int(found.group(1)))
    return (counts[0] - counts[1]) / n


def syscalls(system: str, folder: str, n: int, checkout: Path) -> Counter[str] | None:
    """System calls per lifecycle by name (strace -c -f), start-up subtracted."""
    if shutil.which("strace") is None:
        return None
    tables = []
    for jobs in (n, 0):
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as summary:
            _run(system, folder, jobs, durable=False, checkout=checkout,
                 prefix=["strace", "-c", "-f", "-o", summary.name])
            tables.append(_strace_counts(summary.read()))
    calls: Counter[str] = Counter()
    for name in set(tables[0]) | set(tables[1]):
        per = (tables[0][name] - tables[1][name]) / n
        if per >= 0.05:
            calls[name] = round(per, 1)  # type: ignore[assignment]
    return calls


def _strace_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        parts = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(parts) >= 5 and parts[-1] != "total" and parts[3].isdigit():
            counts[parts[-1]] += int(parts[3])
    return counts


def speed_rounds(mine: str, peer: str, folder: str, n: int, rounds: int, *, durable: bool,
                 checkout: Path) -> list[float]:
    """mine/peer lifecycles per second, one ratio per round, order alternating."""
    ratios = []
    for number in range(rounds):
        order = (mine, peer) if number % 2 == 0 else (peer, mine)
        rates = {s: float(_run(s, folder, n, durable=durable, checkout=checkout, prefix=[]).stdout)
                 for s in order}
        ratios.append(rates[mine] / rates[peer])
        print(f"  round {number + 1}: {mine} {rates[mine]:,.0f}/s, {peer} {rates[peer]:,.0f}/s, "
              f"ratio {ratios[-1]:.3f}", file=sys.stderr, flush=True)
    return ratios


def _verdict(ratios: list[float], need: str) -> str:
    return (f"**{statistics.median(ratios):.2f}**x (median of {len(ratios)}: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; need {need})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=400, help="lifecycles per callgrind/strace run")
    parser.add_argument("--speed-jobs", type=int, default=3000, help="lifecycles per speed run (tmpfs)")
    parser.add_argument("--durable-jobs", type=int, default=1000, help="lifecycles per durable run (disk)")
    parser.add_argument("--bulk-jobs", type=int, default=1000, help="jobs per bulk create run")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--only", default="cost,speed,durable,bulk")
    parser.add_argument("--systems", default="", help="comma-separated: measure the cost of these only")
    parser.add_argument("--disk", type=Path, default=HERE / "out")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the fsjobstore checkout to measure")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    checkout = args.checkout.resolve()
    available = ["fsjobstore", "raw-floor-kept"]
    try:
        import dirq  # noqa: F401
        available.insert(1, "dirq-simple")
    except ImportError:
        print("dirq not installed (pip install -e '.[bench]'): dirq-simple not measured", file=sys.stderr)
    if args.systems:
        available = [s for s in available if s in args.systems.split(",")]
    lines = [f"fsjobstore at {checkout}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", ""]
    if "cost" in parts:
        lines += ["| per lifecycle (durable=False, tmpfs) | user instructions | system calls | of which |",
                  "|---|---|---|---|"]
        costs = {}
        for system in available:
            ins = instructions(system, shm, args.jobs, checkout)
            calls = syscalls(system, shm, args.jobs, checkout)
            costs[system] = ins
            total = "—" if calls is None else f"{sum(calls.values()):.0f}"
            detail = "" if calls is None else ", ".join(f"{k} {v:g}" for k, v in calls.most_common())
            lines.append(f"| {system} | {'—' if ins is None else f'{ins / 1000:,.0f}k'} | {total} | {detail} |")
            print(lines[-1], file=sys.stderr, flush=True)
        if costs.get("fsjobstore") and costs.get("dirq-simple"):
            ratio = costs["fsjobstore"] / costs["dirq-simple"]
            lines.append(f"\nfsjobstore / dirq-simple instructions: **{ratio:.2f}**x (need ≤ 2.0x)")
    if "speed" in parts and "dirq-simple" in available:
        ratios = speed_rounds("fsjobstore", "dirq-simple", shm, args.speed_jobs, args.rounds, durable=False,
                              checkout=checkout)
        lines.append(f"\n`durable=False` lifecycle speed vs dirq-simple on tmpfs: {_verdict(ratios, '≥ 0.7x')}")
    if "durable" in parts:
        args.disk.mkdir(parents=True, exist_ok=True)
        ratios = speed_rounds("fsjobstore", "raw-floor-kept", str(args.disk), args.durable_jobs, args.rounds,
                              durable=True, checkout=checkout)
        lines.append(f"\ndurable lifecycle vs the raw floor (4 fsyncs, history kept) on {args.disk}: "
                     f"{_verdict(ratios, '≥ 0.9x')}")
    if "bulk" in parts:
        lines += _bulk(shm, args.disk, args.bulk_jobs, args.rounds, checkout)
    print("\n".join(lines))
    return 0


def _bulk(shm: str, disk: Path, n: int, rounds: int, checkout: Path) -> list[str]:
    """Issue 15's target 3: create_many of *n* jobs against a loop of create()."""
    lines = ["", f"| {n:,} jobs (durable=False, tmpfs) | user instructions per job |", "|---|---|"]
    for system in ("create-loop", "create-many"):
        ins = instructions(system, shm, n, checkout)
        lines.append(f"| {system} | {'—' if ins is None else f'{ins / 1000:,.1f}k'} |")
        print(lines[-1], file=sys.stderr, flush=True)
    ratios = speed_rounds("create-many", "create-loop", shm, n, rounds, durable=False, checkout=checkout)
    lines.append(f"\n`create_many` vs a loop of `create()`, {n:,} jobs, not durable on tmpfs: "
                 f"{_verdict(ratios, '≥ 2x')}")
    disk.mkdir(parents=True, exist_ok=True)
    ratios = speed_rounds("create-many", "create-loop", str(disk), n, rounds, durable=True, checkout=checkout)
    lines.append(f"\n`create_many` vs a loop of `create()`, {n:,} jobs, durable on {disk}: "
                 f"{_verdict(ratios, '≥ 1.25x')}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
