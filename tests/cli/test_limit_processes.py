"""Concurrency limits with real processes competing: three `fsjobstore work`
processes of four threads each drain jobs of a resource limited to 2 and of a task
capped at 3; the jobs themselves count how many of them run at once (under a lock
of their own), and never more than the limit do."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from clihelpers import fsj, ok, popen, stop
from loophelpers import wait_for

from fsjobstore import JobStore

# Counts the jobs of its request's key running now in COUNTS/<key>, and the most
# ever in COUNTS/<key>.max, under an flock; runs a little while, counts itself out.
HANDLER = """
import fcntl, json, os, sys, time
key = json.load(sys.stdin)["key"]
base = os.path.join(sys.argv[1], key)
def change(by):
    with open(base + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        now = int(open(base).read()) if os.path.exists(base) else 0
        now += by
        open(base, "w").write(str(now))
        most = int(open(base + ".max").read()) if os.path.exists(base + ".max") else 0
        open(base + ".max", "w").write(str(max(most, now)))
change(1)
time.sleep(0.15)
change(-1)
print(key)
"""


def test_three_processes_never_run_more_of_a_resource_or_task_than_its_limit(tmp_path: Path) -> None:
    path, counts = tmp_path / "store", tmp_path / "counts"
    counts.mkdir()
    with JobStore(path, lease_seconds=5.0, durable=False, create=True) as store:
        ok(fsj("limit", "--resource", "gpu", "2", store=path))
        ok(fsj("limit", "--task", "thumb", "3", store=path))
        for n in range(24):
            store.create({"key": "gpu", "n": n}, resource="gpu")
            if n % 2:
                store.create({"key": "thumb", "n": n}, task="thumb")
        workers = [popen("work", "--concurrency", "4", "--poll-interval", "0.05", "--", sys.executable, "-c",
                         HANDLER, str(counts), store=path) for _ in range(3)]
        try:
            wait_for(lambda: store.stats()["fulfilled"] == 36, timeout=120, what="every job done")
        finally:
            outputs = [stop(worker, signal.SIGTERM, timeout=30) for worker in workers]
        for status, _, err, _ in outputs:
            assert status == 0, err
        most = {key: int((counts / f"{key}.max").read_text()) for key in ("gpu", "thumb")}
        assert most["gpu"] == 2 and 2 <= most["thumb"] <= 3, most  # (more than one at once: limits above 1 work)
        assert all(job.state == "fulfilled" and len(job.history) == 1 for job in store.jobs())
        listed = json.loads(ok(fsj("stats", "--json", store=path)))["limits"]
        assert listed == [{"kind": "resource", "name": "gpu", "limit": 2},
                          {"kind": "task", "name": "thumb", "limit": 3}]
