"""The only module that creates, publishes, reads or removes files in a store.

Every file reaches its final name complete: it is written under a unique name in
the store's own ``tmp/`` folder (same filesystem, so no EXDEV), optionally fsynced,
then renamed (replace) or hard-linked (create-if-absent) into place, and the folder
that holds the final name is fsynced. Keeping every such call here gives one place
to count syscalls, inject faults in tests and reason about crashes.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Generator, Iterator

from .errors import CorruptJobFile
from .ids import is_valid_id

_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
# An NFS client reports ESTALE when a file it had looked up was replaced on the
# server; a fresh lookup of the same name then succeeds.
_ESTALE_RETRIES = 5
_READ_SIZE = 1 << 16
# A group-shared store (JobStore(group_shared=True)): every file and folder is
# read-write for its group whatever the umask, and folders are setgid so that
# what any member creates in them belongs to the store's group.
SHARED_FILE_MODE = 0o660
SHARED_FOLDER_MODE = 0o2770


class Folder:
    """A folder of the store. A long-lived one keeps a descriptor to fsync it
    with; a short-lived one (a job's waiting folder) opens one per fsync."""

    __slots__ = ("path", "shared", "_fd", "_keep")

    def __init__(self, path: str, *, keep_open: bool = True, shared: bool = False) -> None:
        self.path = path
        # Whether files made in it get the group-shared mode (see SHARED_FILE_MODE).
        self.shared = shared
        self._fd: int | None = None
        self._keep = keep_open

    def join(self, name: str) -> str:
        return self.path + "/" + name

    def sync(self) -> None:
        """Make the folder's entries (creations, renames) durable."""
        if self._fd is not None:
            os.fsync(self._fd)
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if self._keep:
            self._fd = fd
            os.fsync(fd)
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def names(self) -> list[str]:
        """The entries of the folder (unsorted); an absent folder has none."""
        try:
            return os.listdir(self.path)
        except FileNotFoundError:
            return []


def share(fd: int, folder: Folder) -> None:
    """Give a file just made in *folder* the group-shared mode if the store is shared."""
    if folder.shared:
        os.fchmod(fd, SHARED_FILE_MODE)


def _write_temp(tmp: Folder, data: bytes, durable: bool) -> str:
    path = tmp.join(os.urandom(16).hex() + ".tmp")
    fd = os.open(path, _OPEN_NEW, 0o666)
    try:
        share(fd, tmp)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(path)
        raise
    os.close(fd)
    return path


def publish(
    tmp: Folder,
    folder: Folder,
    name: str,
    data: bytes,
    *,
    durable: bool,
    replace: bool,
) -> None:
    """Make *folder*/*name* hold *data*, all of it or none of it.

    With ``replace=True`` an existing file is replaced (rename). With
    ``replace=False`` the call raises FileExistsError if the name exists, and the
    existing file is left untouched (link): the filesystem's own create-if-absent.
    With ``durable=True`` the data and the new name survive a crash once this
    returns. On any error nothing is left at the final name that was not there.
    """
    tmp_path = _write_temp(tmp, data, durable)
    final = folder.join(name)
    try:
        if replace:
            os.rename(tmp_path, final)
        else:
            _link_no_replace(tmp_path, final)
    except BaseException:
        _unlink_quietly(tmp_path)
        raise
    if not replace:
        os.unlink(tmp_path)
    if durable:
        folder.sync()


def _link_no_replace(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except FileExistsError:
        # Over NFS a link whose reply was lost is retried and reports EEXIST
        # although the first try made it: then the source has two links.
        if os.stat(src).st_nlink == 2:
            return
        raise


def read(path: str) -> bytes:
    """Read a whole file without following a symlink at its final component.

    Opening (rather than stat-ing) revalidates NFS's cached attributes
    (close-to-open consistency). ESTALE is retried with a fresh lookup.
    Raises FileNotFoundError if absent, and CorruptJobFile for a symlink.
    """
    for attempt in range(_ESTALE_RETRIES):
        try:
            fd = os.open(path, _OPEN_READ)
            try:
                chunk = os.read(fd, _READ_SIZE)
                if len(chunk) < _READ_SIZE:
                    return chunk  # a short read of a regular file means end of file
                chunks = [chunk]
                while chunk := os.read(fd, _READ_SIZE):
                    chunks.append(chunk)
                return b"".join(chunks)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorruptJobFile(path, "a symlink (never followed)") from None
            if exc.errno != errno.ESTALE or attempt == _ESTALE_RETRIES - 1:
                raise
            time.sleep(0.001 * 2**attempt)
    raise AssertionError("unreachable")


def create_empty(folder: Folder, name: str, *, durable: bool) -> None:
    """Make an empty marker file exist (no error if it already does)."""
    try:
        fd = os.open(folder.join(name), _OPEN_NEW, 0o666)
    except FileExistsError:
        return
    try:
        share(fd, folder)
    finally:
        os.close(fd)
    if durable:
        folder.sync()


def remove(path: str) -> bool:
    """Unlink *path*; return False if it was already gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def exists(path: str) -> bool:
    """Whether *path* exists, without following a symlink."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def make_folder(path: str, *, shared: bool = False) -> bool:
    """Create a folder (group-shared if *shared*); return False if it already existed."""
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    if shared:
        # chmod, not mkdir's mode: the umask would clear the group bits, and
        # mkdir ignores the setgid bit.
        os.chmod(path, SHARED_FOLDER_MODE)
    return True


def has_entries(path: str) -> bool:
    """Whether the folder *path* exists, is a real folder (not a symlink) and holds
    anything: one ``open`` when it is absent, the common case."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return False
        raise
    try:
        return bool(os.listdir(fd))
    finally:
        os.close(fd)


def remove_folder_if_empty(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def scan(folder: Folder, suffix: str) -> Iterator[str]:
    """Yield the stems of the entries of *folder* that end with *suffix*.

    Only stems that are valid ids are yielded: the rest are leftovers such as a
    lease take-over in progress (``<id>.break``) or strays, never records.
    """
    for stem, _ in scan_inodes(folder, suffix):
        yield stem


def scan_inodes(folder: Folder, suffix: str) -> Generator[tuple[str, int], None, None]:
    """Like scan(), with each entry's inode number (from the listing: no stat)."""
    cut = len(suffix)
    try:
        entries = os.scandir(folder.path)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            name = entry.name
            if name.endswith(suffix):
                stem = name[:-cut] if cut else name
                if is_valid_id(stem):
                    yield stem, entry.inode()
