#!/usr/bin/env python3
"""The lifecycle (create, pull_work, fulfill, release) of two checkouts, side by side.

    python benchmarks/checkouts.py OLD_CHECKOUT NEW_CHECKOUT [--jobs N] [--rounds R]

Each round runs both checkouts, in alternating order, each in a fresh process on a
fresh store in /dev/shm (tmpfs: the disk's drift is left out) with
``durable=False``, and prints jobs per second; the median round is the verdict.
For a refactor that must not lose speed: compare before and after in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

PROGRAM = """
import sys, time
from fsjobstore import JobStore
store = JobStore(sys.argv[1], durable=False, watch=False, create=True)
n = int(sys.argv[2])
for _ in range(200):  # warm-up: imports, caches, the first holder record
    store.create({"n": 0}); lease = store.pull_work(); lease.fulfill("ok")
started = time.perf_counter()
for i in range(n):
    store.create({"n": i})
    lease = store.pull_work()
    lease.fulfill("ok")
    lease.release()
print(n / (time.perf_counter() - started))
store.close()
"""


def rate(checkout: str, jobs: int) -> float:
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as folder:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
        out = subprocess.run([sys.executable, "-c", PROGRAM, os.path.join(folder, "store"), str(jobs)],
                             env=env, check=True, capture_output=True, text=True, cwd=folder)
        return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    ratios = []
    for n in range(args.rounds):
        order = (args.old, args.new) if n % 2 == 0 else (args.new, args.old)
        rates = {checkout: rate(checkout, args.jobs) for checkout in order}
        ratios.append(rates[args.new] / rates[args.old])
        print(f"round {n + 1}: old {rates[args.old]:,.0f}/s  new {rates[args.new]:,.0f}/s  "
              f"new/old {ratios[-1]:.3f}", flush=True)
    print(f"median new/old: {statistics.median(ratios):.3f} (rounds {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
