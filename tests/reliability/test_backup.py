"""Backing up a live store as docs/format.md says ("Backup and restore"): `cp -a` of
its folders in the order given there, while worker processes drain it and jobs
are created and queued on. After `fsjobstore check --repair` the copy is consistent:
every job created before the copy began is in it, in one state; every result in it
is the one the live store committed; and a store opened on it does the rest of the
work and delivers every target."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from procs import spawn

from fsjobstore import JobStore

LEASE = 2.0


def _copy(source: Path, backup: Path) -> None:
    backup.mkdir()
    done = subprocess.run(["cp", "-a", "fsjobstore.json", "waiting", "pending", "resolved", "due", str(backup)],
                          cwd=source, capture_output=True, text=True)
    # Files that vanished while cp read the folder (a job resolved, a target
    # delivered) are expected; anything else is not.
    unexpected = [line for line in done.stderr.splitlines() if "No such file or directory" not in line]
    assert unexpected == [], unexpected


def test_a_copy_of_a_store_under_load_is_made_consistent_by_check_repair(tmp_path: Path) -> None:
    source, backup = tmp_path / "store", tmp_path / "backup"
    store = JobStore(source, lease_seconds=LEASE, durable=False, create=True)
    before = []
    for n in range(1500):
        job_id = store.create({"n": n}).id
        if n % 3 == 0:
            store.queue(job_id, f"client-{n}")
        before.append(job_id)
    workers = [spawn("drain", str(source), str(tmp_path / f"done{i}"), lease=LEASE) for i in range(2)]
    stop_creating = threading.Event()
    later: list[str] = []

    def create_more() -> None:
        while not stop_creating.is_set():
            job_id = store.create("later").id
            store.queue(job_id, "late-client")
            later.append(job_id)

    creator = threading.Thread(target=create_more)
    try:
        while sum(1 for _ in (source / "resolved").glob("*/*.json")) < 300:  # the workers are under way
            time.sleep(0.01)
        creator.start()
        _copy(source, backup)
    finally:
        stop_creating.set()
        if creator.is_alive():
            creator.join()
        for worker in workers:
            assert worker.wait(timeout=120) == 0

    repaired = subprocess.run([sys.executable, "-m", "fsjobstore", "--store", str(backup), "check", "--repair"],
                              capture_output=True, text=True, timeout=120)
    assert repaired.returncode == 0, repaired.stdout[-2000:]
    with JobStore(backup, lease_seconds=LEASE, durable=False) as copy:
        assert copy.check().clean
        copied = {job.id: job for job in copy.jobs()}
        assert set(before) <= set(copied)
        assert len(copied) == len(set(copied))
        for job_id, job in copied.items():
            if job.resolved:
                assert job.value == store.get(job_id).value
        assert any(not job.resolved for job in copied.values()), "the copy caught no job mid-drain"

        # The copy works: its leftover leases expire, and everything is done and delivered.
        deadline = time.monotonic() + 60
        # (jobs() lists in creation order, and the unresolved ones are the newest)
        while any(next(copy.jobs(state), None) for state in ("pending", "running")) and time.monotonic() < deadline:
            lease = copy.pull_work()
            if lease is None:
                time.sleep(0.05)
                continue
            lease.fulfill("done in the copy")
        delivered = set()
        while time.monotonic() < deadline and (note := copy.pull_notification()) is not None:
            delivered.add(note.id)
            note.done(note.waiting)
        assert all(job.resolved for job in copy.jobs())
        waiting = {job_id for job_id in copied if copied[job_id].waiting}
        assert waiting <= delivered
        assert {before[n] for n in range(0, len(before), 3)} <= delivered
    store.close()
