"""A worker process reports progress and is killed (SIGKILL); a worker in another
process takes the job over once the lease expires and starts from the checkpoint;
the killed holder's attempt is counted."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from fsjobstore import JobStore

HOLDER = """
import sys, time
from fsjobstore import JobStore
store = JobStore(sys.argv[1], lease_seconds=1.0, create=True)
lease = None
while lease is None:
    lease = store.pull_work()
for step in range(1, 4):
    lease.progress({"step": step})
print("checkpointed", lease.id, flush=True)
time.sleep(600)
"""


def test_a_checkpoint_survives_its_killed_worker_and_the_next_one_starts_from_it(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with JobStore(path, lease_seconds=1.0, create=True) as store:
        job = store.create({"steps": 5})
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().split() == ["checkpointed", job.id]
            assert store.get(job.id).progress == {"step": 3}
            holder.kill()
            holder.wait()
            deadline = time.monotonic() + 30
            while (lease := store.pull_work()) is None:
                assert time.monotonic() < deadline, "the dead holder's lease was never taken over"
                time.sleep(0.05)
        finally:
            holder.kill()
            holder.wait()
        assert lease.id == job.id and lease.job.progress == {"step": 3} and lease.attempts == 1
        for step in range(lease.job.progress["step"] + 1, 6):
            lease.progress({"step": step})
        done = lease.fulfill("done")
        assert done.progress == {"step": 5} and [a["outcome"] for a in done.history] == ["expired", "fulfilled"]
