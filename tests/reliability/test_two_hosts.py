"""Two "hosts": two bindfs (FUSE) mounts of one folder, each with its own attribute
and entry caches, as two NFS clients have, mounted as docs/format.md recommends
for NFS: attributes cached for a second (``actimeo=1``), positive lookups only (no
negative cache: ``lookupcache=positive``). Skipped, with the reason printed, only
where FUSE or bindfs is missing.

Also, on any machine: a record read cut short (what a client with stale cached
attributes reads of a record just replaced elsewhere) is read again, not called
corrupt."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from invariants import resolved_file
from procs import spawn

from fsjobstore import CorruptJobFile, JobStore
from fsjobstore._files import fsio

# As the docs' NFS options: attributes for a second, no cached "no such file".
CACHE = "attr_timeout=1,entry_timeout=1,negative_timeout=0"


def _fuse_missing() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if shutil.which("bindfs") is None:
        return "bindfs is not installed (make test installs it where apt-get is available)"
    return None


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[tuple[str, str]]:
    reason = _fuse_missing()
    if reason:
        print(f"SKIPPED two-host tests: {reason}")
        pytest.skip(reason)
    source = tmp_path / "shared"
    source.mkdir()
    points = []
    try:
        for name in ("host-a", "host-b"):
            point = tmp_path / name
            point.mkdir()
            result = subprocess.run(["bindfs", "-o", CACHE, str(source), str(point)], capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"bindfs could not mount: {result.stderr.strip()}")
            points.append(str(point))
        yield points[0], points[1]
    finally:
        for point in points:
            if subprocess.run(["fusermount3", "-u", point], capture_output=True).returncode != 0:
                subprocess.run(["fusermount3", "-u", "-z", point], capture_output=True)


def test_workers_on_two_mounts_share_the_work_exactly_once(mounts: tuple[str, str], tmp_path: Path) -> None:
    host_a, host_b = mounts
    with JobStore(host_a, durable=False, create=True) as store:
        ids = {store.create({"n": n}).id for n in range(300)}
    outs = [tmp_path / f"out{i}" for i in range(4)]
    workers = [spawn("drain", (host_a, host_b)[i % 2], str(out), lease=5.0) for i, out in enumerate(outs)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0
    done = [line for out in outs for line in out.read_text().split()]
    assert len(done) == len(set(done)) == len(ids)
    assert set(done) == ids
    per_host = [sum(len(outs[i].read_text().split()) for i in (h, h + 2)) for h in (0, 1)]
    assert all(count > 0 for count in per_host), per_host


def test_lease_of_a_stopped_holder_is_taken_over_through_the_other_mount(mounts: tuple[str, str]) -> None:
    host_a, host_b = mounts
    lease_seconds = 3.0
    with JobStore(host_b, lease_seconds=lease_seconds, create=True) as store_b:
        job = store_b.create({"work": "slow"})
        holder = spawn("hold", host_a, lease=lease_seconds, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert holder.stdout.readline().split() == ["pulled", job.id]
            holder.send_signal(signal.SIGSTOP)
            assert store_b.pull_work() is None  # held, and not yet expired
            started = time.monotonic()
            taken = None
            while taken is None and time.monotonic() - started < 6 * lease_seconds:
                taken = store_b.pull_work()
                time.sleep(0.05)
            assert taken is not None and taken.id == job.id
            assert time.monotonic() - started >= lease_seconds
            holder.send_signal(signal.SIGCONT)
            # Its renewal thread wakes up, finds the lease gone and says so.
            assert holder.stdout.readline().strip() == "compromised"
            holder.stdin.write("fulfill\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "lost"
            taken.fulfill("by host b")
        finally:
            holder.kill()
            holder.wait()
        final = store_b.get(job.id)
        assert (final.state, final.value) == ("fulfilled", b"by host b")
    with JobStore(host_a, create=True) as store_a:
        assert store_a.get(job.id).value == b"by host b"


def test_jobs_and_results_made_on_one_mount_are_read_on_the_other_at_once(mounts: tuple[str, str]) -> None:
    """No JobNotFound for a job that exists (a cached "no such file" for its result
    would say so), no CorruptJobFile for a healthy one, while the other host creates
    jobs, resolves them and replaces their records (retries) all along."""
    host_a, host_b = mounts
    with JobStore(host_a, durable=False, watch=False, create=True) as store_a, \
            JobStore(host_b, durable=False, watch=False, create=True) as store_b:
        for round_ in range(8):
            job = store_a.create({"round": round_}).id
            assert store_b.get(job).state == "pending"
            if round_ % 2:
                lease = store_a.pull_work()
                assert lease is not None
                lease.fail("again", retry=True)  # replaces the record on host a
                assert store_b.get(job).attempts in (0, 1)
            store_a.fulfill(job, "v")
            assert store_b.get(job).state in ("pending", "fulfilled")


def test_a_record_read_cut_short_is_read_again_before_it_is_called_corrupt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JobStore(tmp_path / "store", durable=False, watch=False, create=True) as store:
        job = store.create({"a": "request"}).id
        torn = {"reads": 0}
        read = fsio.read

        def read_stale(path: str) -> bytes:
            data = read(path)
            if job in str(path) and torn["reads"] < 2:
                torn["reads"] += 1
                return data[: len(data) // 2]  # what a stale cached size reads
            return data

        monkeypatch.setattr(fsio, "read", read_stale)
        assert store.get(job).request == {"a": "request"}
        torn["reads"] = 0
        lease = store.pull_work()
        assert lease is not None and lease.id == job
        lease.fulfill("v")
        torn["reads"] = 0
        assert store.wait(job, timeout=5).value == b"v"
        # A file that stays corrupt is still reported, after the re-reads.
        Path(resolved_file(tmp_path / "store", job)).write_bytes(b'{"cut short')
        with pytest.raises(CorruptJobFile):
            store.get(job)
