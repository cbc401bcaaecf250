"""Progress in the job file: the field, its limits, and records without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invariants import pending_file

from fsjobstore import JobStore, JobTooLarge


def test_progress_is_a_field_of_the_pending_record_only_once_reported(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", create=True) as store:
        job = store.create("x")
        pending = Path(pending_file(tmp_path / "s", job.id))
        assert "progress" not in json.loads(pending.read_text())  # (older records have none either)
        lease = store.pull_work()
        assert lease is not None
        lease.progress({"page": 7})
        assert json.loads(pending.read_text())["progress"] == {"page": 7}
        assert "progress:    {\"page\": 7}" in _show(store, job.id)
        lease.release()
        assert store.get(job.id).progress == {"page": 7}  # given back: kept for the next attempt


def test_progress_over_the_size_limit_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", max_bytes=100, create=True) as store:
        job = store.create("x")
        lease = store.pull_work()
        assert lease is not None
        before = Path(pending_file(tmp_path / "s", job.id)).read_bytes()
        with pytest.raises(JobTooLarge, match="progress"):
            lease.progress("x" * 200)
        assert Path(pending_file(tmp_path / "s", job.id)).read_bytes() == before
        lease.fulfill("still held: the refused progress changed nothing")


def _show(store: JobStore, job_id: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "fsjobstore", "--store", store.path, "show", job_id],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout
