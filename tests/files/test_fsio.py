"""fsio: complete-or-absent publication, safe reads, markers and scans."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from fsjobstore._files import folders, fsio
from fsjobstore._files.folders import Folder
from fsjobstore._files.temp_names import temp_names
from fsjobstore.errors import CorruptJobFile


@pytest.fixture
def tmp_and_dest(tmp_path: Path) -> tuple[Folder, Folder]:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "dest").mkdir()
    tmp, dest = Folder(str(tmp_path / "tmp")), Folder(str(tmp_path / "dest"))
    yield tmp, dest
    tmp.close()
    dest.close()


@pytest.mark.parametrize("durable", [True, False])
@pytest.mark.parametrize("replace", [True, False])
def test_publish_creates_the_file_and_leaves_no_temp(
    tmp_and_dest: tuple[Folder, Folder], durable: bool, replace: bool
) -> None:
    tmp, dest = tmp_and_dest
    fsio.publish(tmp, dest, "a.json", b"hello", durable=durable, replace=replace)
    assert Path(dest.join("a.json")).read_bytes() == b"hello"
    assert os.listdir(tmp.path) == []
    assert os.listdir(dest.path) == ["a.json"]


def test_publish_replace_overwrites(tmp_and_dest: tuple[Folder, Folder]) -> None:
    tmp, dest = tmp_and_dest
    fsio.publish(tmp, dest, "a", b"one", durable=False, replace=True)
    fsio.publish(tmp, dest, "a", b"two", durable=True, replace=True)
    assert Path(dest.join("a")).read_bytes() == b"two"
    assert os.listdir(tmp.path) == []


def test_publish_without_replace_refuses_an_existing_name_and_leaves_it(tmp_and_dest: tuple[Folder, Folder]) -> None:
    tmp, dest = tmp_and_dest
    fsio.publish(tmp, dest, "a", b"first", durable=True, replace=False)
    with pytest.raises(FileExistsError):
        fsio.publish(tmp, dest, "a", b"second", durable=True, replace=False)
    assert Path(dest.join("a")).read_bytes() == b"first"
    assert os.listdir(tmp.path) == []
    assert os.stat(dest.join("a")).st_nlink == 1


def test_publish_large_data(tmp_and_dest: tuple[Folder, Folder]) -> None:
    tmp, dest = tmp_and_dest
    data = os.urandom(3 * (1 << 20) + 7)
    fsio.publish(tmp, dest, "big", data, durable=False, replace=False)
    assert fsio.read(dest.join("big")) == data


def test_publish_into_a_shared_temp_folder_gives_the_shared_mode(tmp_path: Path) -> None:
    tmp, dest = Folder(str(tmp_path / "tmp"), shared=True), Folder(str(tmp_path / "dest"))
    for folder in (tmp, dest):
        assert folders.make_folder(folder.path, shared=folder.shared)
    old = os.umask(0o077)
    try:
        fsio.publish(tmp, dest, "a", b"x", durable=False, replace=True)
    finally:
        os.umask(old)
    assert os.stat(dest.join("a")).st_mode & 0o777 == fsio.SHARED_FILE_MODE
    assert os.stat(tmp.path).st_mode & 0o7777 == folders.SHARED_FOLDER_MODE


def test_publish_failure_while_writing_leaves_nothing(
    tmp_and_dest: tuple[Folder, Folder], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, dest = tmp_and_dest

    def broken_write(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "no space")

    monkeypatch.setattr(fsio.os, "write", broken_write)
    with pytest.raises(OSError, match="no space"):
        fsio.publish(tmp, dest, "a", b"data", durable=True, replace=True)
    assert os.listdir(tmp.path) == []
    assert os.listdir(dest.path) == []


def test_publish_failure_at_rename_leaves_nothing(
    tmp_and_dest: tuple[Folder, Folder], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, dest = tmp_and_dest

    def broken_rename(src: str, dst: str, **_: Any) -> None:
        raise OSError(errno.EIO, "io error")

    monkeypatch.setattr(fsio.os, "rename", broken_rename)
    with pytest.raises(OSError, match="io error"):
        fsio.publish(tmp, dest, "a", b"data", durable=False, replace=True)
    assert os.listdir(tmp.path) == []
    assert os.listdir(dest.path) == []


def test_publish_into_a_missing_folder_raises_and_cleans_up(tmp_and_dest: tuple[Folder, Folder]) -> None:
    tmp, dest = tmp_and_dest
    gone = Folder(dest.join("absent"))
    with pytest.raises(FileNotFoundError):
        fsio.publish(tmp, gone, "a", b"data", durable=False, replace=False)
    assert os.listdir(tmp.path) == []


def test_link_whose_reply_was_lost_counts_as_made(tmp_path: Path) -> None:
    # Over NFS a retried link reports EEXIST although the first try made it.
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"x")
    os.link(src, dst)
    fsio.link_no_replace(str(src), str(dst))  # no error
    other = tmp_path / "other"
    other.write_bytes(b"y")
    with pytest.raises(FileExistsError):
        fsio.link_no_replace(str(other), str(dst))


def test_read_small_large_and_empty(tmp_path: Path) -> None:
    for size in (0, 1, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, 5 * (1 << 16) + 3):
        path = tmp_path / f"f{size}"
        data = os.urandom(size)
        path.write_bytes(data)
        assert fsio.read(str(path)) == data


def test_read_missing_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fsio.read(str(tmp_path / "absent"))


def test_read_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"secret")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(CorruptJobFile) as caught:
        fsio.read(str(tmp_path / "link"))
    assert caught.value.path == str(tmp_path / "link") and "symlink" in caught.value.reason


def test_read_retries_estale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    real_open = os.open
    failures = [2]

    def flaky_open(name: str, flags: int, *args: int, **kwargs: Any) -> int:
        if failures[0]:
            failures[0] -= 1
            raise OSError(errno.ESTALE, "stale")
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(fsio.os, "open", flaky_open)
    assert fsio.read(str(path)) == b"data"
    assert failures == [0]


def test_read_gives_up_on_persistent_estale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def stale_open(name: str, flags: int, *args: int, **kwargs: Any) -> int:
        calls.append(name)
        raise OSError(errno.ESTALE, "stale")

    monkeypatch.setattr(fsio.os, "open", stale_open)
    with pytest.raises(OSError) as caught:
        fsio.read(str(tmp_path / "f"))
    assert caught.value.errno == errno.ESTALE
    assert len(calls) == fsio._ESTALE_RETRIES


def test_read_does_not_retry_other_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def denied(name: str, flags: int, *args: int, **kwargs: Any) -> int:
        calls.append(name)
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(fsio.os, "open", denied)
    with pytest.raises(PermissionError):
        fsio.read(str(tmp_path / "f"))
    assert len(calls) == 1


@pytest.mark.parametrize("durable", [True, False])
def test_create_empty_is_idempotent_and_keeps_content(tmp_path: Path, durable: bool) -> None:
    folder = Folder(str(tmp_path))
    fsio.create_empty(folder, "m", durable=durable)
    assert (tmp_path / "m").read_bytes() == b""
    (tmp_path / "m").write_bytes(b"kept")
    fsio.create_empty(folder, "m", durable=durable)
    assert (tmp_path / "m").read_bytes() == b"kept"
    folder.close()


def test_remove_exists_and_folders(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    assert fsio.exists(str(path))
    assert fsio.remove(str(path)) is True
    assert not fsio.exists(str(path))
    assert fsio.remove(str(path)) is False
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert fsio.exists(str(tmp_path / "dangling"))  # lstat, not stat
    sub = tmp_path / "sub"
    assert folders.make_folder(str(sub)) is True
    assert folders.make_folder(str(sub)) is False
    (sub / "x").write_bytes(b"")
    folders.remove_folder_if_empty(str(sub))
    assert sub.is_dir()
    (sub / "x").unlink()
    folders.remove_folder_if_empty(str(sub))
    assert not sub.exists()
    folders.remove_folder_if_empty(str(sub))  # absent: no error


def test_scan_filters_by_suffix_and_skips_dotted_stems(tmp_path: Path) -> None:
    for name in ("A.json", "B.json", "C.tmp", "D", "E.broken-abc.json", "F.broken-abc"):
        (tmp_path / name).write_bytes(b"")
    folder = Folder(str(tmp_path))
    assert sorted(folders.scan(folder, ".json")) == ["A", "B"]
    assert sorted(folders.scan(folder, "")) == ["D"]
    assert list(folders.scan(Folder(str(tmp_path / "absent")), "")) == []


def test_folder_join_names_sync_close(tmp_path: Path) -> None:
    folder = Folder(str(tmp_path))
    assert folder.join("x") == str(tmp_path) + "/x"
    assert folder.names() == []
    (tmp_path / "x").write_bytes(b"")
    assert folder.names() == ["x"]
    folder.sync()
    folder.sync()  # reuses its descriptor
    folder.close()
    folder.close()  # idempotent
    assert Folder(str(tmp_path / "absent")).names() == []


def test_has_entries(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    assert not folders.has_entries(str(folder))  # absent
    folder.mkdir()
    assert not folders.has_entries(str(folder))  # empty
    (folder / "t.json").write_text("{}")
    assert folders.has_entries(str(folder))
    link = tmp_path / "link"
    link.symlink_to(folder)
    assert not folders.has_entries(str(link))  # a symlink is never followed
    assert not folders.has_entries(str(folder / "t.json"))  # a file is not a folder


def test_holds_stems(tmp_path: Path) -> None:
    parent = Folder(str(tmp_path))
    parent.anchor()
    try:
        assert not folders.holds_stems(parent, "w", ".json")  # absent
        (tmp_path / "w").mkdir()
        (tmp_path / "w" / "t.undelivered").write_text("{}")
        (tmp_path / "w" / "bad name.json").write_text("{}")
        assert not folders.holds_stems(parent, "w", ".json")  # no entry scan() yields
        (tmp_path / "w" / "t.json").write_text("{}")
        assert folders.holds_stems(parent, "w", ".json")
        (tmp_path / "link").symlink_to(tmp_path / "w")
        (tmp_path / "file").write_text("")
        for planted in ("link", "file"):  # never followed, never taken for a folder
            with pytest.raises(CorruptJobFile) as caught:
                folders.holds_stems(parent, planted, ".json")
            assert caught.value.path == str(tmp_path / planted)
    finally:
        parent.close()


def test_publish_survives_a_file_planted_at_its_next_temp_name(tmp_and_dest: tuple[Folder, Folder]) -> None:
    # Temp names are a per-process prefix and a counter, which a neighbour sharing
    # the store can read in tmp/ and plant ahead of us.
    tmp, dest = tmp_and_dest
    prefix, _, number = temp_names.next().removesuffix(".tmp").rpartition("-")
    planted = os.path.join(tmp.path, f"{prefix}-{int(number, 16) + 1:x}.tmp")
    Path(planted).write_bytes(b"planted")
    fsio.publish(tmp, dest, "a", b"mine", durable=False, replace=False)
    assert (Path(dest.path) / "a").read_bytes() == b"mine"
    assert Path(planted).read_bytes() == b"planted"
    assert os.listdir(tmp.path) == [os.path.basename(planted)]


def test_temp_names_differ_between_a_parent_and_its_forked_child() -> None:
    temp_names.next()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, temp_names.next().encode())
        os._exit(0)
    os.close(write_end)
    mine = temp_names.next()
    os.waitpid(pid, 0)
    theirs = os.read(read_end, 100).decode()
    os.close(read_end)
    assert theirs.endswith(".tmp") and theirs != mine
