#!/usr/bin/env python3
"""What counting and first pages cost on the big store of ``benchmarks/scale.py``
(issue 15, target 4), checkouts side by side.

    python benchmarks/stats_cost.py [--quick] [--cache DIR ...] [--rounds R] [--checkout DIR ...]

For each checkout (default: this one) and each of R rounds, in alternating
order, each in new processes, once the last round's changes have settled and
been counted: ``fsjobstore stats`` on the big and on the small store (wall
clock and CPU time of the whole process: start-up and imports included, and
big minus small); then, in one process, ``stats()`` of a new store object,
again on the same object, and after 20 jobs were pulled and fulfilled; the first
page (50) of ``jobs()`` in several states; and ``stats()`` of another new object
once those 20 changes have settled. CPU time (user + system) is the column to compare on a loaded machine.
The stores are scale.py's (built there once if missing, never rebuilt); each
round resolves 20 of the big store's pending jobs. Checkouts of different store
formats each need stores of their own: give one ``--cache`` per checkout, in the
same order (copies of one store, one of them migrated, say).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scale import stores  # noqa: E402

# The command line of a checkout: `python -m fsjobstore ARGS`, its fsjobstore first on the path.
_CLI = """
import os, runpy, sys
sys.path.insert(0, os.environ["FSJOBSTORE_CHECKOUT"])
sys.argv = ["fsjobstore", *sys.argv[1:]]
runpy.run_module("fsjobstore", run_name="__main__")
"""
# argv: store. Prints {measurement: [cpu seconds, wall seconds]}.
_IN_PROCESS = """
import json, os, resource, sys, time
sys.path.insert(0, os.environ["FSJOBSTORE_CHECKOUT"])
from fsjobstore import JobStore

def timed(call):
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    call()
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    return [after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall]

out = {}
with JobStore(sys.argv[1], durable=False, watch=False) as store:
    out["stats(), new object, nothing changed"] = timed(store.stats)
    out["stats() again, same object"] = timed(store.stats)
    for _ in range(20):
        store.pull_work().fulfill("v")
    out["stats() after 20 pulled and fulfilled"] = timed(store.stats)
    pages = {"any state": {}, "newest first": {"newest_first": True}, "pending": {"state": "pending"},
             "pending, task encode": {"state": "pending", "task": "encode"}, "fulfilled": {"state": "fulfilled"}}
    for name, options in pages.items():
        out[f"first page, {name}"] = timed(lambda: list(store.jobs(limit=50, **options)))
time.sleep(2.5)  # (settled: what a new process finds some time after the changes)
with JobStore(sys.argv[1], durable=False, watch=False) as store:
    out["stats(), new object, 20 changed since"] = timed(store.stats)
print(json.dumps(out))
"""


def run(checkout: Path, *args: str) -> tuple[float, float, str]:
    """Run python with *args* for *checkout*: (CPU seconds, wall seconds, stdout)."""
    env = dict(os.environ, FSJOBSTORE_CHECKOUT=str(checkout))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = os.times().elapsed
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, cwd="/")
    wall = os.times().elapsed - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{checkout}: {args[-2:]} failed: {done.stderr[-2000:]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scale.py's small stores (for tests)")
    parser.add_argument("--cache", action="append",
                        help="scale.py's --cache (default /var/tmp/fsjobstore-scale); one per checkout, or one for all")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--checkout", type=Path, action="append", help="default: this checkout; give two to compare")
    args = parser.parse_args()
    checkouts = [path.resolve() for path in args.checkout or [ROOT]]
    caches = args.cache or ["/var/tmp/fsjobstore-scale"]
    if len(caches) not in (1, len(checkouts)):
        parser.error(f"give one --cache for all checkouts or one per checkout, not {len(caches)}")
    caches = caches if len(caches) == len(checkouts) else caches * len(checkouts)
    store_of = {checkout: stores(args.quick, cache) for checkout, cache in zip(checkouts, caches, strict=True)}
    seen: dict[Path, dict[str, list[tuple[float, float]]]] = {checkout: {} for checkout in checkouts}
    for round_ in range(args.rounds):
        for checkout in checkouts if round_ % 2 == 0 else checkouts[::-1]:
            rows = seen[checkout]
            big, small = store_of[checkout]
            time.sleep(2.5)  # (the last round's changes settle; then saved by a first count)
            run(checkout, "-c", _CLI, "--store", str(big), "stats")
            for name, store in (("big", big), ("small", small)):
                cpu, wall, _ = run(checkout, "-c", _CLI, "--store", str(store), "stats")
                rows.setdefault(f"`fsjobstore stats`, {name} store", []).append((cpu, wall))
            (big_cpu, big_wall), (small_cpu, small_wall) = (rows[f"`fsjobstore stats`, {name} store"][-1]
                                                            for name in ("big", "small"))
            rows.setdefault("`fsjobstore stats`, big minus small", []).append((big_cpu - small_cpu,
                                                                               big_wall - small_wall))
            _, _, out = run(checkout, "-c", _IN_PROCESS, str(big))
            for name, (cpu, wall) in json.loads(out).items():
                rows.setdefault(name, []).append((cpu, wall))
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.rounds} rounds: CPU ms (wall ms)")
    width = max(len(name) for name in seen[checkouts[0]])
    print(f"{'':{width}}  " + "  ".join(f"{str(checkout)[-24:]:>24}" for checkout in checkouts))
    for name in seen[checkouts[0]]:
        cells = []
        for checkout in checkouts:
            cpus, walls = zip(*seen[checkout][name], strict=True)
            cells.append(f"{statistics.median(cpus) * 1000:9.1f} ({statistics.median(walls) * 1000:7.1f})")
        print(f"{name:{width}}  " + "  ".join(f"{cell:>24}" for cell in cells))


if __name__ == "__main__":
    main()
