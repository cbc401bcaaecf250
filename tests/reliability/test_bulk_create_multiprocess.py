"""create_many with keys, from processes (and two mounts, as two NFS clients) at once."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from procs import spawn
from test_two_hosts import mounts  # noqa: F401  (the fixture)

from fsjobstore import JobStore

KEYS = 100


def _compete(paths: list[str], tmp_path: Path, drain_from: str) -> None:
    """Four processes creating batches with the same keys (a drainer fulfilling
    meanwhile): each key has one job, returned to every batch that named it, and
    every job without a key is made once."""
    outs = [tmp_path / f"out{i}" for i in range(4)]
    creators = [spawn("batched", paths[i % len(paths)], str(out), str(KEYS), lease=5.0)
                for i, out in enumerate(outs)]
    drainer = spawn("drain", drain_from, str(tmp_path / "drained"), lease=5.0)
    for proc in (*creators, drainer):
        assert proc.wait(timeout=180) == 0
    returned: dict[str, set[str]] = defaultdict(set)
    unkeyed: list[str] = []
    for out in outs:
        for line in out.read_text().splitlines():
            key, job_id = line.split()
            if key == "-":
                unkeyed.append(job_id)
            else:
                returned[key].add(job_id)
    assert sorted(returned) == sorted(f"k{n}" for n in range(KEYS))
    two = {key: ids for key, ids in returned.items() if len(ids) != 1}
    assert not two, f"keys given to more than one job: {two}"
    assert len(set(unkeyed)) == len(unkeyed) > 0
    with JobStore(paths[0]) as store:
        jobs = list(store.jobs())
        keyed = [job for job in jobs if job.key is not None]
        assert sorted(job.key or "" for job in keyed) == sorted(returned)
        assert all({job.id} == returned[job.key or ""] for job in keyed)
        assert sorted(job.id for job in jobs if job.key is None) == sorted(unkeyed)
        assert store.check().clean


def test_four_processes_creating_batches_with_the_same_keys_make_one_job_per_key(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    JobStore(path, durable=False, create=True).close()
    _compete([path], tmp_path, path)


def test_batches_on_two_mounts_make_one_job_per_key(mounts: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    JobStore(mounts[0], durable=False, create=True).close()
    _compete(list(mounts), tmp_path, mounts[1])
