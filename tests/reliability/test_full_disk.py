"""Full and read-only filesystems, for real: a 1 MiB tmpfs mounted for the test.

* Opening an existing store writes nothing, so the read-only commands (``ls``,
  ``show``, ``stats``, ``check``) work on a store whose filesystem is full or
  mounted read-only.
* ENOSPC at any step of an operation leaves the store consistent, and every
  resolved job with waiting targets becomes due without a person.

Skipped, with the reason printed, where this process may not mount a tmpfs.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsjobstore import JobStore


def _mount(point: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *options, str(point)], capture_output=True, text=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of its own, unmounted afterwards."""
    point = tmp_path / "small"
    point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        reason = f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}"
        print(f"SKIPPED full-disk tests: {reason}")
        pytest.skip(reason)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(folder: Path) -> None:
    """Use up every byte of *folder*'s filesystem (down to the last partial block)."""
    fd = os.open(folder / "ballast", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _populate(root: Path) -> tuple[str, str]:
    with JobStore(root, watch=False, create=True) as store:
        pending = store.create({"n": 1}).id
        store.queue(pending, "t")
        done = store.create({"n": 2}).id
        store.fulfill(done, "v")
    return pending, done


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fsjobstore", "--store", str(root), *args],
                          capture_output=True, text=True, timeout=60)


def _tree_stat(root: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.lstat().st_mtime_ns, path.lstat().st_size) for path in root.rglob("*")}


@pytest.mark.parametrize("how", ["full", "read-only", "read-only, made by an older version"])
def test_read_only_commands_work_on_a_full_or_read_only_filesystem(small_fs: Path, how: str) -> None:
    root = small_fs / "store"
    pending, done = _populate(root)
    if how.endswith("older version"):  # (a store made before these folders were added)
        for folder in ("keys", "queues"):
            os.rmdir(root / folder)
    if how == "full":
        fill(small_fs)
    else:
        result = _mount(small_fs, "-o", "remount,ro")
        assert result.returncode == 0, result.stderr
    before = _tree_stat(root)
    for args, expected in ((["ls"], pending), (["show", done], "fulfilled"), (["stats"], "pending")):
        result = _cli(root, *args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
        assert expected in result.stdout, (args, result.stdout)
    with JobStore(root, watch=False, create=False) as store:
        assert store.get(pending).waiting == ("t",)
        assert [job.id for job in store.jobs()] == sorted([pending, done])
    # Reading writes no job file: at most the summaries cache (which a full disk
    # refuses) after a probe of the filesystem's clock in tmp/, removed at once.
    def jobs_part(tree: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        return {path: info for path, info in tree.items()
                if path not in (str(root / "tmp"), str(root / "summaries")) and "/summaries/" not in path}

    assert jobs_part(_tree_stat(root)) == jobs_part(before), "opening and reading a store wrote to it"
    assert not list((root / "tmp").iterdir()) and not list((root / "summaries").iterdir())
    # check reads the filesystem's clock with a probe file where it can (removed at
    # once: only tmp/'s own time may change), and its own clock where it cannot.
    result = _cli(root, "check")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    tmp = str(root / "tmp")
    assert {k: v for k, v in _tree_stat(root).items() if k != tmp} == {k: v for k, v in before.items() if k != tmp}


def _free_pages(folder: Path, pages: int) -> None:
    """Fill the filesystem, then give back *pages* pages of 4 KiB."""
    fill(folder)
    ballast = folder / "ballast"
    os.truncate(ballast, max(0, ballast.stat().st_size - pages * 4096))


def _lifecycle(store: JobStore, made: list[str], queued: list[tuple[str, str]],
               delivered: list[tuple[str, str]], retry: bool) -> None:
    """create, queue, work (failing once first if *retry*), deliver, cancel and
    retry, recording what took effect."""
    job = store.create({"job": len(made)}).id
    made.append(job)
    store.queue(job, "before")
    queued.append((job, "before"))
    if retry:
        lease = store.pull_work()
        assert lease is not None
        lease.fail("once", retry=True)
    lease = store.pull_work()
    assert lease is not None
    lease.fulfill("v")
    store.queue(job, "after")
    queued.append((job, "after"))
    note = store.pull_notification()
    assert note is not None
    note.done(note.waiting)
    delivered.extend((note.id, target) for target in note.waiting)
    cancelled = store.create("to retry").id
    made.append(cancelled)
    store.cancel(cancelled)
    store.retry(cancelled)
    store.cancel(cancelled)


@pytest.mark.parametrize("retry", [True, False], ids=["retried", "straight"])
@pytest.mark.parametrize("pages", range(8))
def test_enospc_at_every_step_of_a_job_life_on_a_real_full_filesystem(small_fs: Path, pages: int,
                                                                      retry: bool) -> None:
    """A real disk full at each step in turn: the step raises ENOSPC, nothing is lost,
    and once there is room again every job can be finished and every target delivered."""
    root = small_fs / "store"
    JobStore(root, watch=False, create=True).close()
    _free_pages(small_fs, pages)
    made: list[str] = []
    queued: list[tuple[str, str]] = []
    delivered: list[tuple[str, str]] = []
    with JobStore(root, watch=False, lease_seconds=60, create=True) as store:
        with pytest.raises(OSError) as raised:
            for _ in range(50):  # until the disk is full
                _lifecycle(store, made, queued, delivered, retry)
        assert raised.value.errno == errno.ENOSPC
        assert {job.id for job in store.jobs()} >= set(made), "a created job was lost"
    (small_fs / "ballast").unlink()
    with JobStore(root, watch=False, lease_seconds=60, create=True) as store:
        while (note := store.pull_notification()) is not None:  # (first makes due what should be)
            delivered += [(note.id, target) for target in note.waiting]
            note.done(note.waiting)
        while (lease := store.pull_work()) is not None:
            lease.fulfill("after the disk had room again")
        while (note := store.pull_notification()) is not None:
            delivered += [(note.id, target) for target in note.waiting]
            note.done(note.waiting)
        for job in made:
            state = store.get(job)
            assert state.resolved and state.waiting == (), (job, state)
        assert set(queued) <= set(delivered), "a target whose queue returned was never delivered"
        report = store.check(repair=True)
        assert {problem.kind for problem in report.problems} <= {"leftover", "half-resolved", "orphan-lease"}
        assert store.check().clean
