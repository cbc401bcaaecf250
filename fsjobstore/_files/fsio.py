"""The only module that creates, publishes, reads or removes files in a store.

Every file reaches its final name complete: it is written under a unique name in
the store's own ``tmp/`` folder (same filesystem, so no EXDEV), optionally fsynced,
then renamed (replace) or hard-linked (create-if-absent) into place, and the folder
that holds the final name is fsynced. Keeping every such call here (and the
folder calls in ``folders``) gives one place to count syscalls, inject faults in
tests and reason about crashes. Every path is reached through its anchored
folder's descriptor (see ``folders``).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from ..errors import CorruptJobFile
from .folders import Folder, reach
from .temp_names import temp_names

_OPEN_NEW = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
# An NFS client reports ESTALE when a file it had looked up was replaced on the
# server; a fresh lookup of the same name then succeeds.
_ESTALE_RETRIES = 5
_READ_SIZE = 1 << 16
# A group-shared store (JobStore(group_shared=True)): every file is read-write for
# its group whatever the umask (and folders: see folders.SHARED_FOLDER_MODE).
SHARED_FILE_MODE = 0o660




# A name within a folder as os calls take it: (name, the folder's descriptor), or
# (full path, None) for a folder not anchored (see folders.reach).
At = tuple[str, "int | None"]


def _open_temp(tmp: Folder) -> tuple[At, int]:
    """Create a new file in *tmp* under a name nobody uses: (where it is, its descriptor)."""
    at = tmp.at(temp_names.next())
    try:
        return at, os.open(at[0], os.O_WRONLY | _OPEN_NEW, 0o666, dir_fd=at[1])
    except FileExistsError:
        # Planted by someone who saw our prefix in tmp/: a name nobody can guess.
        at = tmp.at(os.urandom(16).hex() + ".tmp")
        return at, os.open(at[0], os.O_WRONLY | _OPEN_NEW, 0o666, dir_fd=at[1])


def share(fd: int, folder: Folder) -> None:
    """Give a file just made in *folder* the group-shared mode if the store is shared."""
    if folder.shared:
        os.fchmod(fd, SHARED_FILE_MODE)


def open_new(path: str, access: int = os.O_WRONLY) -> int:
    """Create *path* (``O_CREAT|O_EXCL``, never through a symlink) and return its descriptor."""
    name, dir_fd = reach(path)
    return os.open(name, access | _OPEN_NEW, 0o666, dir_fd=dir_fd)


def _write_temp(tmp: Folder, data: bytes, durable: bool) -> At:
    at, fd = _write_temp_open(tmp, data, durable)
    os.close(fd)
    return at


def _write_temp_open(tmp: Folder, data: bytes, durable: bool) -> tuple[At, int]:
    """A new temp file holding *data* (fsynced if *durable*), still open: (where, descriptor)."""
    at, fd = _open_temp(tmp)
    try:
        share(fd, tmp)
        done = os.write(fd, data)
        while done < len(data):  # (not a shrinking memoryview: mypyc misreads its truth, wrote twice)
            done += os.write(fd, data[done:])
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(at)
        raise
    return at, fd


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
    if not replace:
        publish_linked(tmp, ((folder, name),), data, durable=durable)
        return
    # (Names and descriptors, not StorePaths: a publish is on every state change.)
    temp = _write_temp(tmp, data, durable)
    final = folder.at(name)
    try:
        os.rename(temp[0], final[0], src_dir_fd=temp[1], dst_dir_fd=final[1])
    except BaseException:
        _unlink_quietly(temp)
        raise
    if durable:
        folder.sync()


def publish_linked(tmp: Folder, names: Sequence[tuple[Folder, str]], data: bytes, *, durable: bool) -> None:
    """Give one new file holding *data* each of *names* (folder, name) in turn,
    create-if-absent, each made durable (``durable``: its folder fsynced) before
    the next is made, so a crash leaves a prefix of them. FileExistsError if a
    name exists; the names made before it stay."""
    temp = _write_temp(tmp, data, durable)
    try:
        for links, (folder, name) in enumerate(names, start=2):
            _link_no_replace(temp, folder.at(name), links)
            if durable and links <= len(names):
                folder.sync()
    except BaseException:
        _unlink_quietly(temp)
        raise
    _remove(temp)
    if durable:
        names[-1][0].sync()


# A batch's files are fsynced SYNC_THREADS at once (at most _OPEN_AT_ONCE open): a journal
# (or an NFS server) commits concurrent fsyncs together (ext4 here: 2.5-3x faster at 8).
SYNC_THREADS, _OPEN_AT_ONCE = 8, 256


def publish_many(tmp: Folder, files: Sequence[tuple[Folder, str, bytes]], *, durable: bool, replace: bool = True,
                 written: Callable[[int], None] | None = None,
                 remake: Callable[[Folder, str], Folder] | None = None) -> list[bool]:
    """Give each (folder, name, data) of *files* its file, all or nothing, as ``publish``
    does, but every file is written (and fsynced) before any is renamed (or linked,
    without *replace*) and each folder fsynced once. Whether each name was made (False:
    it existed); *written* is told the files written so far. A folder found removed
    (ENOENT, ESTALE) is replaced by ``remake(folder, name)`` (made again) and that file
    placed once more, if *remake* is given. On an error the files published stay
    (whole), no temp file is left."""
    temps: list[At] = []
    made: list[bool] = []
    remade: dict[int, Folder] = {}  # id of a folder found removed -> the one made again
    try:
        with ThreadPoolExecutor(SYNC_THREADS, "fsjobstore-fsync") if durable else nullcontext() as pool:
            for start in range(0, len(files), _OPEN_AT_ONCE):
                _write_open(tmp, files[start : start + _OPEN_AT_ONCE], temps, pool)
                if written is not None:
                    written(len(temps))
        for temp, (folder, name, _) in zip(temps, files, strict=True):
            folder = remade.get(id(folder), folder)
            try:
                made.append(_place(temp, folder.at(name), replace))
            except OSError as exc:
                if remake is None or exc.errno not in (errno.ENOENT, errno.ESTALE):
                    raise
                remade[id(folder)] = folder = remake(folder, name)
                made.append(_place(temp, folder.at(name), replace))
    except BaseException:
        for temp in temps[len(made):]:
            _unlink_quietly(temp)
        raise
    if durable:
        placed = [remade.get(id(folder), folder) for folder, _, _ in files]
        for folder in {id(folder): folder for folder in placed}.values():
            folder.sync()
    return made


def _write_open(tmp: Folder, files: Sequence[tuple[Folder, str, bytes]], temps: list[At],
                pool: ThreadPoolExecutor | None) -> None:
    """Write each file to a temp file (in *temps*), then fsync them all through *pool*."""
    fds: list[int] = []
    try:
        for _, _, data in files:
            at, fd = _write_temp_open(tmp, data, False)
            temps.append(at)
            fds.append(fd)
        for _ in pool.map(os.fsync, fds) if pool is not None else ():
            pass
    finally:
        for fd in fds:
            os.close(fd)


def _place(temp: At, final: At, replace: bool) -> bool:
    """Publish the temp file at *final*: whether it was made (False: the name existed)."""
    if replace:
        os.rename(temp[0], final[0], src_dir_fd=temp[1], dst_dir_fd=final[1])
        return True
    try:
        _link_no_replace(temp, final, 2)
    except FileExistsError:
        _remove(temp)
        return False
    _remove(temp)  # (not on another error: the caller may place it again, or removes it)
    return True


def rename(src: str, dst: str) -> None:
    """Rename *src* over *dst* (atomic replace)."""
    (src_name, src_fd), (dst_name, dst_fd) = reach(src), reach(dst)
    os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def link(src: str, dst: str) -> None:
    """Give *src*'s file the name *dst* too; FileExistsError if *dst* exists."""
    (src_name, src_fd), (dst_name, dst_fd) = reach(src), reach(dst)
    os.link(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def link_no_replace(src: str, dst: str, links: int = 2) -> None:
    """Link *src* to *dst*, which must not exist; *links*: the names *src* has once it worked."""
    _link_no_replace(reach(src), reach(dst), links)


def _link_no_replace(src: At, dst: At, links: int) -> None:
    try:
        os.link(src[0], dst[0], src_dir_fd=src[1], dst_dir_fd=dst[1])
    except FileExistsError:
        # Over NFS a link whose reply was lost is retried and reports EEXIST
        # although the first try made it: then the source has one link more.
        if os.lstat(src[0], dir_fd=src[1]).st_nlink == links:
            return
        raise


def read(path: str) -> bytes:
    """Read a whole file without following a symlink at its final component.

    Opening (rather than stat-ing) revalidates NFS's cached attributes
    (close-to-open consistency). ESTALE is retried with a fresh lookup.
    Raises FileNotFoundError if absent, and CorruptJobFile for a symlink.
    """
    name, dir_fd = reach(path)
    for attempt in range(_ESTALE_RETRIES):
        try:
            fd = os.open(name, _OPEN_READ, dir_fd=dir_fd)
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


def filesystem_now(tmp: Folder) -> float:
    """Now on the filesystem's own clock (on NFS, the server's): the mtime of a probe
    file made in *tmp* and removed at once. The clock every file's mtime is set by,
    so ages judged against it never compare two hosts' clocks. OSError where
    nothing can be written (a read-only or full filesystem)."""
    at, fd = _open_temp(tmp)
    try:
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)
        _unlink_quietly(at)


def open_lock(folder: Folder, name: str) -> int:
    """A descriptor of the lock file *folder*/*name* to ``flock``, made if absent, never
    opened through a symlink. CorruptJobFile if the name is not a regular file."""
    path = folder.join(name)
    try:
        fd = open_new(path, os.O_RDONLY)
    except FileExistsError:
        entry, dir_fd = reach(path)
        # Read-only: flock needs no more, and the file may be another user's. Not
        # blocking: a FIFO planted there would block the open for ever.
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorruptJobFile(path, "a symlink (never followed)") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CorruptJobFile(path, "not a regular file (never used as a lock)") from None
        return fd
    try:
        share(fd, folder)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_empty(folder: Folder, name: str, *, durable: bool) -> None:
    """Make an empty marker file exist (no error if it already does)."""
    try:
        fd = open_new(folder.join(name))
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
    return _remove(reach(path))


def remove_in(folder: Folder, name: str) -> bool:
    """remove(folder.join(name)) without making the path."""
    return _remove(folder.at(name))


def _remove(at: At) -> bool:
    try:
        os.unlink(at[0], dir_fd=at[1])
    except FileNotFoundError:
        return False
    return True


def _unlink_quietly(at: At) -> None:
    try:
        os.unlink(at[0], dir_fd=at[1])
    except OSError:
        pass


def overwrite(fd: int, data: bytes, *, sync: bool) -> None:
    """Rewrite a file in place from its start (a holder's record), and with *sync*
    fsync it, so that other NFS clients see the change."""
    os.pwrite(fd, data, 0)
    if sync:
        os.fsync(fd)


def lstat(path: str) -> os.stat_result:
    """The status of *path* itself (a symlink is not followed)."""
    name, dir_fd = reach(path)
    return os.lstat(name, dir_fd=dir_fd)


def identity(path: str) -> tuple[int, int] | None:
    """What tells *path*'s file from any other that had or will have its name: inode
    number and change time (None if it is gone). Not the inode alone: ext4 gives
    a new file the number just freed."""
    try:
        info = lstat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_ctime_ns


def exists(path: str) -> bool:
    """Whether *path* exists, without following a symlink."""
    return _exists(reach(path))


def exists_in(folder: Folder, name: str) -> bool:
    """exists(folder.join(name)) without making the path."""
    return _exists(folder.at(name))


def _exists(at: At) -> bool:
    try:
        os.lstat(at[0], dir_fd=at[1])
    except FileNotFoundError:
        return False
    return True


