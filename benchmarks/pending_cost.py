#!/usr/bin/env python3
"""What the pending side of the big store costs, two checkouts side by side, each on a
store of its own format (issue 15, target 4): the pending count (saved counts,
and after 20 jobs were pulled and fulfilled), first pages of pending jobs, a first
claim. CPU ms (wall ms), medians of alternating rounds, a new process each.

    python benchmarks/pending_cost.py ROUNDS BEFORE_CHECKOUT BEFORE_STORE AFTER_CHECKOUT AFTER_STORE

Unlike stats_cost.py it reads no history, so it runs at once on a copy of the
cached store (whose summaries a copy invalidates: new inodes) and on a migrated
copy. Each round resolves 20 pending jobs of each store.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

PROG = r'''
import json, os, resource, sys, time
sys.path.insert(0, os.environ["CHECKOUT"])
from fsjobstore import JobStore
from fsjobstore._files import fsio
from fsjobstore._store.pending_counts import pending_count
def timed(call):
    b = resource.getrusage(resource.RUSAGE_SELF); w = time.perf_counter(); r = call()
    a = resource.getrusage(resource.RUSAGE_SELF)
    return [(a.ru_utime - b.ru_utime + a.ru_stime - b.ru_stime) * 1000, (time.perf_counter() - w) * 1000, r]
out = {}
with JobStore(sys.argv[1], durable=False, watch=False) as store:
    layout = store._ctx.layout
    now = lambda: fsio.filesystem_now(layout.tmp)
    out["pending count, saved counts"] = timed(lambda: pending_count(layout, now))
    for _ in range(20):
        store.pull_work().fulfill("v")
    out["pending count after 20 pulled and fulfilled"] = timed(lambda: pending_count(layout, now))
    for name, opts in {"first page, pending": {}, "first page, pending, newest first": {"newest_first": True},
                       "first page, pending, task encode": {"task": "encode"}}.items():
        out[name] = timed(lambda: len(list(store.jobs("pending", limit=50, **opts))))
    out["claim (pull_work + release), new object's first"] = timed(lambda: store.pull_work().release())
print(json.dumps(out))
'''
checkouts = {"before": (sys.argv[2], sys.argv[3]), "after": (sys.argv[4], sys.argv[5])}
rows: dict[str, dict[str, list[tuple[float, float, object]]]] = {}
for r in range(int(sys.argv[1])):
    for name in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
        checkout, store = checkouts[name]
        done = subprocess.run([sys.executable, "-c", PROG, store], env=dict(os.environ, CHECKOUT=checkout),
                              capture_output=True, text=True, cwd="/")
        if done.returncode:
            sys.exit(done.stderr[-2000:])
        for k, (cpu, wall, res) in json.loads(done.stdout).items():
            rows.setdefault(k, {}).setdefault(name, []).append((cpu, wall, res))
print(f"load average {os.getloadavg()[0]:.1f}; medians of {sys.argv[1]} rounds: CPU ms (wall ms)")
for k, by in rows.items():
    cells = [f"{n}: {statistics.median(c for c, _, _ in v):.1f} ({statistics.median(w for _, w, _ in v):.1f})"
             for n, v in by.items()]
    print(f"{k:50} " + "   ".join(cells))
