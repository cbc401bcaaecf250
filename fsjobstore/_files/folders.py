"""Anchored folders: each store folder is opened once and reached through its descriptor.

A store opens each of its folders once, with ``O_NOFOLLOW`` (so none of them can
be a symlink), and keeps the descriptor. A path made by such a folder's ``join``
is a ``StorePath``: it prints as the full path, but every call of ``fsio`` and of
this module reaches it *relative to the folder's descriptor* (``openat``,
``renameat``, ``linkat``, ...). So a folder that somebody sharing the store swaps
for a symlink while a process has it open is never written or read through: the
process keeps working in the folder it opened (or fails, if that folder was deleted).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Generator, Iterator

from ..errors import CorruptJobFile
from .ids import count_valid, is_valid_id, valid_stems
from .storepath import StorePath

_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# /proc/self/fd/<n> leads to the very folder descriptor n is open on (no lookup of
# its name), so a listing through it reaches the anchored folder whatever was
# swapped in at its path since, in 4 system calls; opening "." relative to the
# descriptor and listing that new descriptor takes 10. Where /proc is missing,
# that is what is done.
_PROC_FD = "/proc/self/fd/" if os.path.isdir("/proc/self/fd") else None
# A group-shared store's folders: read-write for the group whatever the umask, and
# setgid, so that what any member creates in them belongs to the store's group.
SHARED_FOLDER_MODE = 0o2770


def reach(path: str) -> tuple[str, int | None]:
    """What to pass to an ``os`` call for *path*: (relative name, folder descriptor),
    or (path, None) for a path of no anchored folder."""
    if isinstance(path, StorePath):
        fd = path.folder.fd
        if fd is not None:
            return path.name, fd
    return path, None


class Folder:
    """A folder of the store, reached through a descriptor of its own once anchored.

    A long-lived folder (``keep_open``, the default) is anchored when its store
    opens (``anchor``) and closed with it. A short-lived one (a job's waiting
    folder, whose path is a StorePath in an anchored folder) anchors itself at
    first use and closes when it is dropped: either way, no path it makes can be
    redirected by a symlink swapped in between a check and a call.
    """

    __slots__ = ("path", "shared", "_fd", "_keep")

    def __init__(self, path: str, *, keep_open: bool = True, shared: bool = False) -> None:
        self.path = path
        # Whether files made in it get the group-shared mode (see SHARED_FILE_MODE).
        self.shared = shared
        self._fd: int | None = None
        self._keep = keep_open

    @property
    def fd(self) -> int | None:
        """The anchoring descriptor, or None if the folder is not anchored."""
        return self._fd

    def anchor(self, parent: Folder | None = None) -> None:
        """Open the folder (never through a symlink; within *parent* if given) and
        reach everything in it through that from now on.

        Raises FileNotFoundError, or CorruptJobFile for a symlink or a file.
        """
        if self._fd is None:
            self._fd = open_folder(self.path if parent is None else parent.join(os.path.basename(self.path)))

    def _unanchored_store_path(self) -> StorePath | None:
        """The path of a short-lived folder not anchored yet (else None)."""
        path = self.path
        return path if self._fd is None and not self._keep and isinstance(path, StorePath) else None

    def join(self, name: str) -> str:
        if self._fd is not None:
            return StorePath(self, name)
        if (path := self._unanchored_store_path()) is not None:
            try:
                self.anchor()
            except FileNotFoundError:
                return StorePath(path.folder, path.name + "/" + name)  # absent: calls fail with ENOENT
            return StorePath(self, name)
        return self.path + "/" + name

    def at(self, name: str) -> tuple[str, int | None]:
        """``reach(self.join(name))`` without making the path: what to pass to an
        ``os`` call for the entry *name* (for the calls every state change makes)."""
        fd = self._fd
        return (name, fd) if fd is not None else reach(self.join(name))

    def status(self) -> tuple[int, int, int]:
        """(inode, mtime, ctime) of the anchored folder: one fstat of its descriptor."""
        assert self._fd is not None, "status() of a folder not anchored"
        info = os.fstat(self._fd)
        return info.st_ino, info.st_mtime_ns, info.st_ctime_ns

    def sync(self) -> None:
        """Make the folder's entries (creations, renames) durable."""
        if self._fd is not None:
            os.fsync(self._fd)
            return
        fd = open_folder(self.path)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self) -> None:
        if not self._keep:  # (long-lived folders are closed with their layout)
            self.close()

    def names(self) -> list[str]:
        """The entries of the folder (unsorted); an absent folder has none."""
        try:
            target = self.listing()
        except FileNotFoundError:
            return []
        try:
            return os.listdir(target)
        finally:
            if isinstance(target, int):
                os.close(target)

    def is_empty(self) -> bool:
        """Whether the folder has no entry (or is absent), without listing them all."""
        try:
            target = self.listing()
        except FileNotFoundError:
            return True
        try:
            with os.scandir(target) as entries:
                return next(entries, None) is None
        finally:
            if isinstance(target, int):
                os.close(target)

    def listing(self) -> str | int:
        """What to list the folder through (``os.listdir``, ``os.scandir``): a path to
        its descriptor, or a descriptor of its own that the caller closes.
        FileNotFoundError if the folder is absent."""
        # Never the anchor itself: listings share the offset of the descriptor they
        # read, so two at once on the anchor would disturb each other. (Through
        # /proc each listing opens the folder anew.)
        if self._unanchored_store_path() is not None:
            self.anchor()
        fd = self._fd
        if fd is not None:
            if _PROC_FD is not None:
                return f"{_PROC_FD}{fd}"
            return os.open(".", _OPEN_FOLDER, dir_fd=fd)
        return open_folder(self.path)


def open_folder(path: str) -> int:
    """Open the folder *path* (never through a symlink at its last component).
    CorruptJobFile if it is a symlink or a file."""
    name, dir_fd = reach(path)
    try:
        return os.open(name, _OPEN_FOLDER, dir_fd=dir_fd)
    except OSError as exc:
        _refuse_not_a_folder(exc, path)
        raise


def has_folder(folder: Folder, name: str) -> bool:
    """Whether *folder* holds a folder *name* (a symlink is none), by opening it as a
    listing does: over NFS an open asks the server where a stat may answer from
    the client's cache."""
    name, dir_fd = folder.at(name)
    try:
        os.close(os.open(name, _OPEN_FOLDER, dir_fd=dir_fd))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return False
        raise
    return True


def _refuse_not_a_folder(exc: OSError, path: str) -> None:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        raise CorruptJobFile(path, "a symlink or a file, not a folder (never followed)") from None


def holds_stems(parent: Folder, name: str, suffix: str) -> bool:
    """Whether the folder *name* in *parent* holds an entry ``scan`` would yield: one
    ``open`` when it is absent (a job's waiting folder, on every resolution), no
    Folder made. CorruptJobFile if it is a symlink or a file."""
    entry, dir_fd = parent.at(name)
    try:
        fd = os.open(entry, _OPEN_FOLDER, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        _refuse_not_a_folder(exc, f"{parent.path}/{name}")
        raise
    cut = len(suffix)
    try:
        with os.scandir(fd) as entries:
            return any(entry.name.endswith(suffix) and is_valid_id(entry.name[: len(entry.name) - cut])
                       for entry in entries)
    finally:
        os.close(fd)


def make_folder(path: str, *, shared: bool = False) -> bool:
    """Create a folder (group-shared if *shared*); return False if it already existed."""
    name, dir_fd = reach(path)
    try:
        os.mkdir(name, dir_fd=dir_fd)
    except FileExistsError:
        return False
    if shared:
        # chmod, not mkdir's mode: the umask would clear the group bits, and
        # mkdir ignores the setgid bit.
        os.chmod(name, SHARED_FOLDER_MODE, dir_fd=dir_fd)
    return True


def has_entries(path: str) -> bool:
    """Whether the folder *path* exists, is a real folder (not a symlink) and holds
    anything: one ``open`` when it is absent, the common case."""
    try:
        fd = open_folder(path)
    except (FileNotFoundError, CorruptJobFile):
        return False
    try:
        return bool(os.listdir(fd))
    finally:
        os.close(fd)


def remove_folder_if_empty(path: str) -> None:
    name, dir_fd = reach(path)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        pass


def remove_empty_in(folder: Folder, name: str) -> bool:
    """Remove the folder *name* of *folder* if it is empty; whether it is gone now
    (False: it holds entries, or is not a folder)."""
    name, dir_fd = folder.at(name)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def scan(folder: Folder, suffix: str) -> Iterator[str]:
    """Yield the stems of the entries of *folder* that end with *suffix*.

    Only stems that are valid ids are yielded: the rest are leftovers such as a
    lease take-over in progress (``<id>.break``) or strays, never records.
    """
    for stem, _ in scan_inodes(folder, suffix):
        yield stem


def stems(folder: Folder, suffix: str) -> list[str]:
    """Like scan(), as a list, made at C speed: for listings of whole folders."""
    return valid_stems(folder.names(), suffix)


def count(folder: Folder, suffix: str) -> int:
    """``len(stems(folder, suffix))``, without making the stems."""
    return count_valid(folder.names(), suffix)


def scan_inodes(folder: Folder, suffix: str) -> Generator[tuple[str, int], None, None]:
    """Like scan(), with each entry's inode number (from the listing: no stat)."""
    try:
        target = folder.listing()
    except FileNotFoundError:
        return
    try:
        yield from _stems_and_inodes(target, suffix)
    finally:
        if isinstance(target, int):
            os.close(target)


def scan_inodes_in(parent: Folder, name: str, suffix: str) -> Generator[tuple[str, int], None, None]:
    """Like scan_inodes() of the folder *name* in *parent*, opened (never through a
    symlink) for this listing alone, with no Folder made; nothing if it is absent,
    a symlink or a file."""
    entry, dir_fd = parent.at(name)
    try:
        fd = os.open(entry, _OPEN_FOLDER, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return
        raise
    try:
        # (Through /proc: scandir of a descriptor of its own costs 5 calls more, to dup and rewind it.)
        yield from _stems_and_inodes(fd if _PROC_FD is None else f"{_PROC_FD}{fd}", suffix)
    finally:
        os.close(fd)


def _stems_and_inodes(target: str | int, suffix: str) -> Iterator[tuple[str, int]]:
    cut = len(suffix)
    with os.scandir(target) as entries:
        for entry in entries:
            name = entry.name
            if name.endswith(suffix):
                stem = name[:-cut] if cut else name
                if is_valid_id(stem):
                    yield stem, entry.inode()
