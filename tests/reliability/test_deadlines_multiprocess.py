"""Jobs past their deadline with four worker processes competing: none runs, each
ends expired once, and every other job is done once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from procs import spawn

from fsjobstore import JobStore


def test_four_processes_run_no_job_past_its_deadline(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    past = datetime.now(UTC) - timedelta(seconds=1)
    with JobStore(path, durable=False, create=True) as store:
        late = {store.create({"n": n}, deadline=past).id for n in range(200)}
        on_time = {store.create({"n": n}, deadline=3600).id for n in range(200)}
    outs = [tmp_path / f"out{i}" for i in range(4)]
    workers = [spawn("drain", path, str(out)) for out in outs]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    done = [line for out in outs for line in out.read_text().split()]
    assert len(done) == len(set(done)) and set(done) == on_time
    with JobStore(path) as store:
        assert {job.id for job in store.jobs("expired")} == late
        assert store.stats()["expired"] == 200 and store.check().clean
