"""Dependencies with two worker processes racing to resolve parents and pull their
dependants, while this process keeps making jobs after others (some already done,
some running, some to fail): no job lost, none run twice, none run before its
parents are fulfilled, and every dependant of a failure cancelled, never run."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from procs import spawn

from fsjobstore import JobStore


def test_two_processes_run_a_growing_tree_each_job_once_after_its_parents(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    rng = random.Random(16)
    after: dict[str, list[str]] = {}
    fails: set[str] = set()
    with JobStore(path, durable=False, create=True) as store:
        for n in range(40):
            job = store.create({"fail": n % 10 == 0})
            after[job.id] = []
            if n % 10 == 0:
                fails.add(job.id)
        outs = [tmp_path / f"out{i}" for i in range(2)]
        workers = [spawn("tree", path, str(out)) for out in outs]
        for n in range(300):  # while the workers resolve their parents
            parents = rng.sample(sorted(after), rng.randint(1, 3))
            job = store.create({"n": n, "fail": n % 37 == 0}, after=parents)
            after[job.id] = parents
            if n % 37 == 0:
                fails.add(job.id)
        for worker in workers:
            assert worker.wait(timeout=300) == 0
        assert all("ran" in out.read_text() for out in outs), "each process should take some of the work"
        lines = [line.split() for out in outs for line in out.read_text().splitlines()]
        ran = Counter(job_id for kind, job_id in lines if kind == "ran")
        assert [job_id for kind, job_id in lines if kind == "early"] == [], "run before its parents were fulfilled"
        assert [job_id for job_id, n in ran.items() if n > 1] == [], "run twice"

        def fulfilled(job_id: str) -> bool:  # as it must end: every ancestor fulfilled, and it does not fail
            return job_id not in fails and all(fulfilled(parent) for parent in after[job_id])

        def runs(job_id: str) -> bool:
            return all(fulfilled(parent) for parent in after[job_id])

        jobs = {job.id: job for job in store.jobs()}
        assert set(jobs) == set(after), "lost or extra jobs"
        assert set(ran) == {job_id for job_id in after if runs(job_id)}
        for job_id, job in jobs.items():
            expected = "fulfilled" if fulfilled(job_id) else "failed" if runs(job_id) else "cancelled"
            assert job.state == expected, f"{job_id} is {job.state}, not {expected}"
            if expected == "cancelled":
                assert job.error is not None and job.error.startswith("cancelled: parent ")
        assert store.stats()["blocked"] == 0 and store.check().clean
