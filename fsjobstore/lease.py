"""Exclusive, renewable, expiring leases on names in one folder.

This module knows nothing about jobs: it leases a *name*. Work leases and
notification leases are the same mechanism on two folders.

The protocol (docs/format.md, "Leases", states it with its invariants):

* **Acquire** a free name: create ``<name>`` with ``O_CREAT|O_EXCL``; the holder keeps
  the descriptor open and writes its record (a random token, host, pid and a beat
  counter) into it. Only one creator can succeed, on a local disk and over NFSv3+.
* **Renew**: every ``lease_seconds / 3`` the holder rewrites its record in place
  through its own descriptor with the beat counter advanced (``pwrite`` of a
  fixed-width record, then ``fsync`` so other NFS clients see it), then re-reads the
  name to check that it still holds its token. Writing through the descriptor can
  never touch another holder's file, even if ours was taken over.
* **Expire**: a contender reads the record on every sweep and remembers when, by
  its own monotonic clock, it last saw it change. A record that stayed the same for
  ``lease_seconds`` of the contender's clock is expired. No wall clock and no file
  mtime is ever compared, so hosts need not agree on the time.
* **Take over** an expired lease: contenders take turns by creating
  ``<name>.break`` with ``O_EXCL``. The one holding it re-reads the lease and, only
  if the record is still the expired one, renames a file holding its own record
  over ``<name>``. The name never goes missing, so a plain acquire cannot slip
  in, and the old holder's next check finds a token that is not its own.
* **Fence**: every commit first checks the record on disk still carries the
  holder's token (renewing first if the last renewal is old). A holder that finds
  its token gone is *compromised*: its callback is called once and every later
  commit raises LeaseLost.

filelock's ``SoftFileLease`` needs ``renameat2(RENAME_EXCHANGE)`` to take over, which
NFS refuses, and ``SoftReadWriteLock`` costs ~3.8 ms and a thread per lock; this
protocol costs one ``open`` to acquire and one ``unlink`` to release, and one
renewal thread per store for all its leases.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from functools import partial

from . import fsio
from .errors import CorruptJobFile, LeaseLost
from .fsio import Folder
from .job import now_text

log = logging.getLogger("fsjobstore")

_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_HOST_JSON = json.dumps(socket.gethostname())
# A holder trusts its lease without asking the disk only this long after its last
# renewal, leaving contenders' clocks room to run fast (they need a full
# lease_seconds of an unchanged record before they take over).
_TRUST_FRACTION = 0.5


class Held:
    """One lease this process holds."""

    __slots__ = (
        "name",
        "path",
        "token",
        "seconds",
        "renewed_at",
        "compromised",
        "reason",
        "released",
        "probe",
        "_folder",
        "_fd",
        "_beat",
        "_lock",
        "_on_compromised",
    )

    def __init__(self, folder: LeaseFolder, name: str, fd: int, started: float) -> None:
        self.name = name
        self.path = folder.folder.join(name)
        self.token = os.urandom(16).hex()
        self.seconds = folder.lease_seconds
        self.renewed_at = started
        self.compromised = False
        self.reason = ""
        self.released = False
        # Asked after each renewal: a reason the lease is no longer wanted, or None.
        self.probe: Callable[[], str | None] | None = None
        self._folder = folder
        self._fd = fd
        self._beat = 0
        self._lock = threading.Lock()
        self._on_compromised: Callable[[Held], None] | None = None
        os.pwrite(fd, self._record(), 0)

    def _record(self) -> bytes:
        # Fixed width for a given holder, so rewriting in place never leaves a
        # longer tail. "seconds" tells contenders how long to wait before taking over.
        return (
            f'{{"token": "{self.token}", "host": {_HOST_JSON}, "pid": {os.getpid()}, '
            f'"seconds": {self.seconds!r:>12}, "beat": "{self._beat:012d}", "renewed_at": "{now_text()}"}}\n'
        ).encode()

    @property
    def renew_at(self) -> float:
        return self.renewed_at + self.seconds / 3

    def set_seconds(self, seconds: float) -> None:
        """Change the lease's length (and tell contenders at once)."""
        with self._lock:
            self.seconds = seconds
            if not (self.released or self.compromised):
                self._write_beat()
        self._folder.renewer.wake()

    # -- checks -------------------------------------------------------------------

    def check(self, *, final: bool = False) -> None:
        """Raise LeaseLost unless the record on disk still carries our token.

        ``final=True`` is for the check before the commit that ends the lease:
        the probe is dropped, so the commit itself is not mistaken for a loss.
        """
        with self._lock:
            if self.released:
                raise LeaseLost(f"lease on {self.name!r} was already released")
            if final:
                self.probe = None
            if not self.compromised:
                if time.monotonic() - self.renewed_at > self.seconds * _TRUST_FRACTION:
                    self._write_beat()
                self._verify()
            lost, reason = self.compromised, self.reason
        if lost:
            self._notify()
            raise LeaseLost(f"lease on {self.name!r} was lost: {reason}")

    def renew(self) -> None:
        """Advance the beat counter in place and check the lease is still ours."""
        with self._lock:
            if self.released or self.compromised:
                return
            self._write_beat()
            self._verify()
            if not self.compromised and self.probe is not None:
                reason = self.probe()
                if reason:
                    self._lose(reason)
            lost = self.compromised
        if lost:
            self._notify()

    def _write_beat(self) -> None:
        started = time.monotonic()
        self._beat += 1
        try:
            os.pwrite(self._fd, self._record(), 0)
            if self._folder.sync:
                os.fsync(self._fd)
        except OSError as exc:
            self._lose(f"renewal failed: {exc}")
            return
        self.renewed_at = started

    def _verify(self) -> None:
        try:
            content = fsio.read(self.path)
        except FileNotFoundError:
            self._lose("its file is gone (taken over or removed)")
            return
        except OSError as exc:
            self._lose(f"its file cannot be read: {exc}")
            return
        if self.token.encode() not in content:
            self._lose("another holder took it over after it expired")

    def watch(self, callback: Callable[[Held], None] | None) -> None:
        """Call *callback* once if the lease is lost (at once if it already is)."""
        with self._lock:
            self._on_compromised = callback
            lost = self.compromised
        if lost:
            self._notify()

    def _lose(self, reason: str) -> None:
        if not self.compromised:
            self.compromised = True
            self.reason = reason
            self._folder.renewer.discard(self)

    def _notify(self) -> None:
        callback, self._on_compromised = self._on_compromised, None
        if callback is None:
            return
        try:
            callback(self)
        except Exception:
            log.exception("on_compromised callback for lease %r raised", self.name)

    # -- release ----------------------------------------------------------------

    def release(self) -> None:
        """Give the lease up. Safe to call more than once and after compromise."""
        with self._lock:
            if self.released:
                return
            self.released = True
            self._folder.renewer.discard(self)
            try:
                if not self.compromised and self._still_ours():
                    fsio.remove(self.path)
            except OSError as exc:
                log.warning("could not remove lease file %s: %s", self.path, exc)
            finally:
                os.close(self._fd)

    def _still_ours(self) -> bool:
        if time.monotonic() - self.renewed_at < self.seconds * _TRUST_FRACTION:
            return True
        self._verify()
        return not self.compromised


class LeaseFolder:
    """Leases on the names of one folder, and what this process saw of others'."""

    def __init__(self, folder: Folder, lease_seconds: float, renewer: Renewer, *, sync: bool = True) -> None:
        self.folder = folder
        self.lease_seconds = lease_seconds
        self.renewer = renewer
        self.sync = sync
        # name -> (record last read, monotonic time it was first read like that)
        self._seen: dict[str, tuple[bytes, float]] = {}
        # "<name>.break" -> (inode, monotonic time first seen), to clear dead contenders' files
        self._breakers: dict[str, tuple[int, float]] = {}
        self._next_sweep = 0.0

    def acquire(self, name: str) -> Held | None:
        """Take the lease on a free *name*; None if somebody holds it."""
        started = time.monotonic()
        try:
            fd = os.open(self.folder.join(name), _CREATE, 0o666)
        except FileExistsError:
            return None
        try:
            held = Held(self, name, fd, started)
        except BaseException:
            os.close(fd)
            fsio.remove(self.folder.join(name))
            raise
        self.renewer.add(held)
        return held

    def sweep_due(self) -> bool:
        return time.monotonic() >= self._next_sweep

    def sweep(self) -> list[str]:
        """Read every lease record; return the names whose record has expired."""
        now = time.monotonic()
        self._next_sweep = now + self.lease_seconds / 4
        seen: dict[str, tuple[bytes, float]] = {}
        expired = []
        for name in fsio.scan(self.folder, ""):
            try:
                content = fsio.read(self.folder.join(name))
            except (FileNotFoundError, CorruptJobFile):
                continue  # gone, or a planted symlink (check reports it)
            before = self._seen.get(name)
            seen[name] = entry = before if before is not None and before[0] == content else (content, now)
            if now - entry[1] >= _record_seconds(content, self.lease_seconds):
                expired.append(name)
        self._seen = seen
        return expired

    def take_over(self, name: str) -> Held | None:
        """Replace the expired lease on *name* with ours; None if that is unsafe.

        Contenders take turns through ``<name>.break`` (created with O_EXCL).
        The one holding it re-reads the lease and, only if the record is still
        the expired one, renames its own record over it: the name never goes
        missing, so no plain acquire can slip in, and a holder checking at that
        moment sees either its record or the new one.
        """
        expired = self._seen.pop(name, None)
        if expired is None:
            return None
        path = self.folder.join(name)
        breaker = path + ".break"
        try:
            os.close(os.open(breaker, _CREATE, 0o666))
        except FileExistsError:
            self._expire_breaker(breaker)
            return None
        try:
            try:
                current = fsio.read(path)
            except FileNotFoundError:
                return self.acquire(name)  # released meanwhile: it is free
            if current != expired[0]:
                return None  # its holder renewed, or another contender took it
            return self._replace(name, path, current)
        finally:
            fsio.remove(breaker)

    def _replace(self, name: str, path: str, expired: bytes) -> Held:
        started = time.monotonic()
        temp = f"{path}.new-{os.urandom(8).hex()}"
        fd = os.open(temp, _CREATE, 0o666)
        try:
            held = Held(self, name, fd, started)
            os.rename(temp, path)
        except BaseException:
            os.close(fd)
            fsio.remove(temp)
            raise
        self.renewer.add(held)
        log.info("took over expired lease %s (holder record: %s)", path, expired.decode("utf-8", "replace").strip())
        return held

    def _expire_breaker(self, breaker: str) -> None:
        """Remove a ``.break`` file left by a contender that died while holding it
        (one that stayed for a whole lease length of our clock)."""
        try:
            inode = os.lstat(breaker).st_ino
        except FileNotFoundError:
            return
        now = time.monotonic()
        seen = self._breakers.get(breaker)
        if seen is None or seen[0] != inode:
            self._breakers[breaker] = (inode, now)
        elif now - seen[1] >= self.lease_seconds:
            fsio.remove(breaker)
            del self._breakers[breaker]

    def is_held(self, name: str) -> bool:
        return fsio.exists(self.folder.join(name))


def _forget_in_child(ref: weakref.ref[Renewer]) -> None:
    renewer = ref()
    if renewer is not None:
        renewer._forget()


def _record_seconds(content: bytes, default: float) -> float:
    """The lease length a holder wrote in its record (a torn or empty record: *default*)."""
    try:
        seconds = json.loads(content)["seconds"]
    except (ValueError, KeyError, TypeError):
        return default
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else default


class Renewer:
    """One background thread renewing every lease a store holds, each when it is due."""

    def __init__(self) -> None:
        self._held: set[Held] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        # A forked child inherits the parent's lease descriptors but not its
        # leases: it must never renew them (that would keep a dead parent's
        # lease alive), so it forgets them.
        os.register_at_fork(after_in_child=partial(_forget_in_child, weakref.ref(self)))

    def _forget(self) -> None:
        self._held = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def add(self, held: Held) -> None:
        with self._lock:
            self._held.add(held)
            if self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(target=self._run, name="fsjobstore-renewer", daemon=True)
                self._thread.start()
        if held.seconds < 3.0:
            self._wake.set()  # a short lease may be due before the thread's next wake-up

    def discard(self, held: Held) -> None:
        with self._lock:
            self._held.discard(held)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                held = list(self._held)
            now = time.monotonic()
            for lease in held:
                if lease.renew_at <= now:
                    try:
                        lease.renew()
                    except Exception:
                        log.exception("renewing lease %r failed", lease.name)
            with self._lock:
                next_due = min((lease.renew_at for lease in self._held), default=now + 1.0)
            self._wake.wait(max(0.0, next_due - time.monotonic()))
            self._wake.clear()

    def release_all(self) -> None:
        with self._lock:
            held = list(self._held)
        for lease in held:
            lease.release()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None
