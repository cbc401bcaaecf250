"""A store on a filesystem whose timestamps are whole seconds (ext4 with 128-byte
inodes, on a loop device): a folder changed twice within one second keeps the
same mtime and ctime, so a count or summary saved for the first state would
describe the second one too, were it saved. Counts and pages stay exact after
every create, pull, resolve, retry and delete, whether read by the store object
that made the change or by a new one (what a new process reads: the saved
summaries, history.json, the pending counts and what was read of the
unresolved records, per task).

Skipped, with the reason printed, where a loop device cannot be mounted (not
root, no mkfs.ext4, no loop devices).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsjobstore import JobStore
from fsjobstore.job import PENDING, RESOLVED_STATES, STATES


def _skip(reason: str) -> None:
    print(f"SKIPPED coarse-timestamp tests: {reason}")
    pytest.skip(reason)


@pytest.fixture
def coarse_root(tmp_path: Path) -> Iterator[Path]:
    """An empty folder on an ext4 filesystem with whole-second timestamps."""
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        _skip("needs root and mkfs.ext4 to mount an ext4 image with 128-byte inodes")
    image, mount = tmp_path / "coarse.img", tmp_path / "mnt"
    with open(image, "wb") as handle:
        handle.truncate(64 << 20)
    mount.mkdir()
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-I", "128", str(image)], capture_output=True, text=True)
    mounted = made.returncode == 0 and subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                                                      capture_output=True, text=True).returncode == 0
    if not mounted:
        _skip(f"cannot mount a loop device here: {made.stderr.strip()}")
    try:
        probe = mount / "probe"
        probe.touch()
        assert probe.stat().st_mtime_ns % 1_000_000_000 == 0, "the filesystem's timestamps are not whole seconds"
        probe.unlink()
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _expected(model: dict[str, str]) -> dict[str, int]:
    counts = Counter(model.values())
    return {state: counts[state] for state in (PENDING, *RESOLVED_STATES)}


def _check(store: JobStore, model: dict[str, str]) -> None:
    """The store object and a new one count and page exactly what the model holds."""
    with JobStore(store.path, durable=False, watch=False) as fresh:
        for reader in (store, fresh):
            stats = reader.stats()
            assert {state: stats[state] for state in (PENDING, *RESOLVED_STATES)} == _expected(model)
            assert [job.id for job in reader.jobs()] == sorted(model)
            seen = Counter((job.task or "", job.state) for job in reader.jobs())
            assert reader.stats_by_task() == {task: {state: seen[task, state] for state in STATES}
                                              for task in {task for task, _ in seen}}
            assert [job.id for job in reader.jobs(PENDING, limit=3)] == sorted(
                job_id for job_id, state in model.items() if state == PENDING)[:3]
            assert [job.id for job in reader.jobs("fulfilled", newest_first=True)] == sorted(
                (job_id for job_id, state in model.items() if state == "fulfilled"), reverse=True)


def _step(store: JobStore, model: dict[str, str], rng: random.Random) -> None:
    """One change, picked at random among those the model allows."""
    pending = sorted(job_id for job_id, state in model.items() if state == PENDING)
    resolved = sorted(job_id for job_id, state in model.items() if state != PENDING)
    choice = rng.choice(["create", "create", "fulfil", "cancel", "retry", "delete"])
    if choice == "create" or not pending and choice in ("fulfil", "cancel"):
        model[store.create({"n": len(model)}, task=rng.choice(["mail", "render", None])).id] = PENDING
    elif choice == "fulfil":
        lease = store.pull_work()
        assert lease is not None
        lease.fulfill("done")
        model[lease.id] = "fulfilled"
    elif choice == "cancel":
        model[store.cancel(rng.choice(pending)).id] = "cancelled"
    elif resolved and choice == "retry":
        job_id = rng.choice(resolved)
        store.retry(job_id) if model[job_id] != "fulfilled" else store.delete(job_id)
        if model[job_id] == "fulfilled":
            del model[job_id]
        else:
            model[job_id] = PENDING
    elif resolved:
        del model[store.delete(rng.choice(resolved)).id]


def test_counts_and_pages_stay_exact_with_whole_second_timestamps(coarse_root: Path) -> None:
    rng = random.Random(15)
    model: dict[str, str] = {}
    with JobStore(coarse_root / "store", create=True, durable=False, watch=False) as store:
        for _ in range(4):
            # Changes within a second of each other, each read at once by both readers...
            for _ in range(12):
                _step(store, model, rng)
                _check(store, model)
            # ... then a pause long enough that the folders settle and their counts,
            # summaries and history.json are saved, and changes again right after.
            time.sleep(3.1)  # (more than SETTLED_SECONDS in whole seconds)
            _check(store, model)
            if any(state != PENDING for state in model.values()):
                assert (coarse_root / "store" / "summaries" / "history.json").exists()
