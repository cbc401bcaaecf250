#!/usr/bin/env python3
"""What purging one expired job costs (issue 15, target 4: at least 5,000 a second).

    python benchmarks/purge_cost.py [--jobs N] [--rounds R] [--folder DIR] [--summaries]
                                    [--checkout DIR ...] [--no-strace]

Writes, once per run, a store of N resolved jobs 8 days old (the records
``benchmarks/scale.py`` writes, in buckets of their own), then for each checkout
(default: this one) and each of R rounds purges a fresh copy of it in a new
process: jobs per second of wall clock and of CPU time. Checkouts alternate
order from round to round; with two, the ratio is taken within each round and
judged on the median. Then, per checkout, the system calls per purged job
(``strace -c -f``, a purge of the same store without the jobs subtracted).

The buckets are new, as ``benchmarks/scale.py`` writes them: the purge reads
every record to build their summaries. With ``--summaries``, the common case of
a store whose buckets settled long ago (their folders' mtimes 8 days old too)
and whose summaries were saved (by ``stats``, say, before the purge and outside
its time): the purge reads none of the records.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.lifecycle_cost import strace_counts  # noqa: E402
from benchmarks.scale import write_history  # noqa: E402

# argv: store. Prints jobs removed, wall seconds, CPU seconds of the purge alone.
_PURGE = """
import os, sys, time
sys.path.insert(0, os.environ["FSJOBSTORE_CHECKOUT"])
from fsjobstore import JobStore
with JobStore(sys.argv[1], durable=False, watch=False) as store:
    if sys.argv[2] == "1":
        store.stats()  # (saves the summaries of the settled buckets)
    wall, cpu = time.perf_counter(), time.process_time()
    removed = store.purge()
    print(removed, time.perf_counter() - wall, time.process_time() - cpu)
"""
DAY_MS = 24 * 3600 * 1000


def make_template(folder: Path, jobs: int, *, settled: bool = False) -> Path:
    """A store holding *jobs* resolved jobs created 9 days ago, resolved 8 days ago
    (with *settled*, their buckets last changed then too)."""
    from fsjobstore import JobStore

    root = folder / "template"
    JobStore(root, durable=False, watch=False, create=True).close()
    if jobs:
        now_ms = time.time_ns() // 1_000_000
        write_history(root, jobs, now_ms - 9 * DAY_MS, 3_600_000, age_s=8 * 24 * 3600)
    if settled:
        then = time.time() - 8 * 24 * 3600
        for bucket in (root / "resolved").iterdir():
            os.utime(bucket, (then, then))
    return root


def purge_copy(template: Path, checkout: Path, summaries: bool,
               prefix: tuple[str, ...] = ()) -> tuple[int, float, float]:
    """Purge a fresh copy of *template* with *checkout*'s fsjobstore (with *summaries*,
    saved first): (removed, wall, cpu)."""
    work = Path(tempfile.mkdtemp(dir=template.parent))
    try:
        store = work / "store"
        subprocess.run(["cp", "-a", str(template), str(store)], check=True)
        env = dict(os.environ, FSJOBSTORE_CHECKOUT=str(checkout), PYTHONHASHSEED="0")
        done = subprocess.run([*prefix, sys.executable, "-c", _PURGE, str(store), str(int(summaries))], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"purge failed ({done.returncode}): {done.stderr[-2000:]}")
        removed, wall, cpu = done.stdout.split()
        return int(removed), float(wall), float(cpu)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def syscalls(full: Path, empty: Path, checkout: Path, jobs: int, summaries: bool) -> Counter[str]:
    """System calls per purged job by name, a purge of the empty store subtracted."""
    tables = []
    for template in (full, empty):
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as summary:
            purge_copy(template, checkout, summaries, ("strace", "-c", "-f", "-o", summary.name))
            tables.append(strace_counts(summary.read()))
    calls: Counter[str] = Counter()
    for name in set(tables[0]) | set(tables[1]):
        per = (tables[0][name] - tables[1][name]) / jobs
        if per >= 0.05:
            calls[name] = round(per, 2)  # type: ignore[assignment]
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--checkout", type=Path, action="append", help="default: this checkout; give two to compare")
    parser.add_argument("--summaries", action="store_true", help="settled buckets, their summaries saved")
    parser.add_argument("--no-strace", action="store_true")
    args = parser.parse_args()
    checkouts = [path.resolve() for path in args.checkout or [ROOT]]
    folder = Path(tempfile.mkdtemp(prefix="fsjobstore-purge-", dir=args.folder))
    try:
        (folder / "full").mkdir()
        full = make_template(folder / "full", args.jobs, settled=args.summaries)
        rates: dict[Path, list[tuple[float, float]]] = {checkout: [] for checkout in checkouts}
        for round_ in range(args.rounds):
            for checkout in checkouts if round_ % 2 == 0 else checkouts[::-1]:
                removed, wall, cpu = purge_copy(full, checkout, args.summaries)
                if removed != args.jobs:
                    raise RuntimeError(f"{checkout}: purged {removed} of {args.jobs}")
                rates[checkout].append((removed / wall, removed / cpu))
        for checkout in checkouts:
            walls, cpus = zip(*rates[checkout], strict=True)
            print(f"{checkout}: median {statistics.median(walls):,.0f} jobs/s wall, "
                  f"{statistics.median(cpus):,.0f}/s of CPU ({args.rounds} rounds of {args.jobs:,})")
        if len(checkouts) == 2:
            first, second = (rates[checkout] for checkout in checkouts)
            for n, what in enumerate(("wall", "CPU")):
                ratio = statistics.median(b[n] / a[n] for a, b in zip(first, second, strict=True))
                print(f"second / first, {what}: median of rounds {ratio:.2f}x")
        if not args.no_strace and shutil.which("strace"):
            (folder / "empty").mkdir()
            empty = make_template(folder / "empty", 0)
            for checkout in checkouts:
                calls = syscalls(full, empty, checkout, args.jobs, args.summaries)
                listed = ", ".join(f"{name} {count}" for name, count in calls.most_common())
                print(f"{checkout}: {sum(calls.values()):.1f} system calls per job ({listed})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
