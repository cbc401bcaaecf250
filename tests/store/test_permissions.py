"""File modes: the process umask by default; group-shared on request, whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsjobstore import InvalidStore, JobStore


@pytest.fixture
def umask() -> Iterator[None]:
    """Run the test under a strict umask (as a locked-down service would)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """The permission bits (with setgid) of everything under *root*, and of root itself."""
    found = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def exercise(store: JobStore) -> None:
    """Make every kind of file a store makes: records, temp files, targets, markers,
    holder records and lease links, the maintenance lock."""
    done = store.create({"n": 1})
    store.queue(done.id, "target")
    lease = store.pull_work()
    assert lease is not None
    lease.fulfill("v")
    store.create({"n": 2}, resource="printer")
    running = store.pull_work()
    assert running is not None  # stays held: its lease link and resource lease exist
    store.purge()


def test_group_shared_store_files_are_group_read_write_whatever_the_umask(tmp_path: Path, umask: None) -> None:
    root = tmp_path / "store"
    store = JobStore(root, group_shared=True, watch=False, create=True)
    try:
        exercise(store)
        found = modes(root)
        for rel, mode in found.items():
            expected = 0o2770 if os.path.isdir(root / rel) else 0o660
            assert mode == expected, f"{rel} has mode {oct(mode)}, not {oct(expected)}"
        assert any(rel.startswith(os.path.join("leases", "holders")) and rel.count(os.sep) == 2 for rel in found)
        assert any(rel.startswith(os.path.join("waiting", "")) for rel in found)
    finally:
        store.close()


def test_files_follow_the_umask_by_default(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        root = tmp_path / "store"
        store = JobStore(root, watch=False, create=True)
        try:
            exercise(store)
            for rel, mode in modes(root).items():
                expected = 0o750 if os.path.isdir(root / rel) else 0o640
                assert mode == expected, f"{rel} has mode {oct(mode)}, not {oct(expected)}"
        finally:
            store.close()
    finally:
        os.umask(old)


def test_folders_made_later_are_group_shared_too(tmp_path: Path, umask: None) -> None:
    # A job's waiting folder is made when its first target is queued.
    store = JobStore(tmp_path / "store", group_shared=True, watch=False, create=True)
    try:
        job = store.create("x")
        store.queue(job.id, {"to": "a"})
        folder = tmp_path / "store" / "waiting" / job.id
        assert stat.S_IMODE(folder.stat().st_mode) == 0o2770
        (entry,) = folder.iterdir()
        assert stat.S_IMODE(entry.stat().st_mode) == 0o660
    finally:
        store.close()


def test_cli_group_shared_flag_and_environment(tmp_path: Path) -> None:
    env = {**os.environ, "FSJOBSTORE_DIR": str(tmp_path / "flag")}
    base = [sys.executable, "-c", "import os, sys; os.umask(0o077); from fsjobstore.cli import main; "
            "sys.argv[0] = 'fsjobstore'; main()"]
    subprocess.run([*base, "--group-shared", "init"], env=env, check=True, capture_output=True)
    subprocess.run([*base, "--group-shared", "create", '{"n": 1}'], env=env, check=True, capture_output=True)
    (bucket,) = (tmp_path / "flag" / "pending").iterdir()
    (record,) = bucket.iterdir()
    assert stat.S_IMODE(bucket.stat().st_mode) == 0o2770 and stat.S_IMODE(record.stat().st_mode) == 0o660
    env = {**env, "FSJOBSTORE_DIR": str(tmp_path / "env"), "FSJOBSTORE_GROUP_SHARED": "1"}
    subprocess.run([*base, "init"], env=env, check=True, capture_output=True)
    subprocess.run([*base, "create", '{"n": 1}'], env=env, check=True, capture_output=True)
    assert stat.S_IMODE((tmp_path / "env").stat().st_mode) == 0o2770
    (bucket,) = (tmp_path / "env" / "pending").iterdir()
    (record,) = bucket.iterdir()
    assert stat.S_IMODE(bucket.stat().st_mode) == 0o2770 and stat.S_IMODE(record.stat().st_mode) == 0o660


def test_group_shared_on_a_plain_folder_makes_it_setgid_for_its_owner(tmp_path: Path, umask: None) -> None:
    folder = tmp_path / "team"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # what a plain mkdir leaves: no setgid, no group write
    with JobStore(folder, create=True, group_shared=True) as store:
        store.create("x")
    mode = os.stat(folder).st_mode
    assert mode & stat.S_ISGID and mode & 0o070 == 0o070
    for sub in ("pending", "leases", "leases/work"):
        assert os.stat(folder / sub).st_gid == os.stat(folder).st_gid


def test_group_shared_on_a_folder_of_another_owner_says_what_to_do(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    if os.geteuid() != 0:
        pytest.skip("needs root to give the folder to another user")
    os.chown(folder, 65534, -1)  # nobody's
    with pytest.raises(InvalidStore, match=f"chmod g\\+rwxs {folder}"):
        JobStore(folder, create=True, group_shared=True)
    assert os.listdir(folder) == []  # nothing made in it
