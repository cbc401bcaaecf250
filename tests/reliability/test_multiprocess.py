"""Several processes (and a killed one) sharing one store folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from procs import spawn

from fsjobstore import JobStore


def test_four_processes_fulfil_2000_jobs_exactly_once(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    with JobStore(path, durable=False, create=True) as store:
        ids = {store.create({"n": n}).id for n in range(2000)}
    outs = [tmp_path / f"out{i}" for i in range(4)]
    workers = [spawn("drain", path, str(out)) for out in outs]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    done = [line for out in outs for line in out.read_text().split()]
    assert len(done) == len(set(done)) == 2000, "a job was fulfilled twice or lost"
    assert set(done) == ids
    assert all(len(out.read_text().split()) > 0 for out in outs), "every worker should get some work"
    with JobStore(path, create=True) as store:
        assert store.stats() == {"pending": 0, "blocked": 0, "running": 0, "fulfilled": 2000, "failed": 0,
                                 "cancelled": 0,
                                 "expired": 0, "discarded": 0, "due": 0}
        for job_id in list(ids)[:50]:
            assert store.get(job_id).text.startswith("done by ")


def test_job_of_a_sigkilled_worker_is_pulled_again_after_expiry(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    lease = 1.0
    with JobStore(path, lease_seconds=lease, create=True) as store:
        job = store.create("crash me")
        holder = spawn("hold", path, lease=lease, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert holder.stdout.readline().split() == ["pulled", job.id]
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert store.get(job.id).state == "running"  # its lease file outlives it
        assert store.pull_work() is None  # not before the lease expires
        started = time.monotonic()
        lease_again = None
        while lease_again is None and time.monotonic() - started < 10 * lease:
            lease_again = store.pull_work()
            time.sleep(0.02)
        waited = time.monotonic() - started
        assert lease_again is not None and lease_again.id == job.id
        assert lease <= waited < 3 * lease
        assert lease_again.attempts == 1  # the crashed attempt is counted
        assert "expired" in store.get(job.id).error
        lease_again.fulfill("second try")
        final = store.get(job.id)
        assert (final.state, final.value, final.attempts, final.error) == ("fulfilled", b"second try", 1, None)
        assert store.pull_work() is None
        assert os.listdir(os.path.join(path, "leases", "work")) == []
