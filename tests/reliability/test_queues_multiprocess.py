"""Addressed jobs with workers of several addresses, in several processes (and on
two mounts, as two NFS clients), competing for one store."""

from __future__ import annotations

from pathlib import Path

from procs import spawn
from test_two_hosts import mounts  # noqa: F401  (the fixture)

from fsjobstore import JobStore

ADDRESSES = ("w0", "w1")


def _share(paths: list[str], tmp_path: Path) -> None:
    """Two workers per address and two for jobs addressed to nobody: each job is done
    once, by a worker of its own address."""
    with JobStore(paths[0], durable=False, create=True) as store:
        ids = {to: {store.create({"n": n, "to": to}, priority=n % 3, labels={} if to is None else {"to": to}).id
                    for n in range(150)} for to in (*ADDRESSES, None)}
    outs = {(to, i): tmp_path / f"out-{to}-{i}" for to in (*ADDRESSES, None) for i in range(2)}
    procs = [spawn("drain", paths[i % len(paths)], str(out), *([] if to is None else [to]), lease=5.0)
             for (to, i), out in outs.items()]
    for proc in procs:
        assert proc.wait(timeout=180) == 0
    for to in (*ADDRESSES, None):
        done = [line for i in range(2) for line in outs[to, i].read_text().split()]
        assert len(done) == len(set(done)), f"a job addressed to {to} was done twice"
        assert set(done) == ids[to], f"workers for {to} did other jobs, or left some"
    with JobStore(paths[0]) as store:
        assert store.stats()["fulfilled"] == 450 and store.check().clean


def test_workers_of_several_addresses_in_six_processes(tmp_path: Path) -> None:
    _share([str(tmp_path / "store")], tmp_path)


def test_workers_of_several_addresses_on_two_mounts(mounts: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    _share(list(mounts), tmp_path)
