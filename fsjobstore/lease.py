"""Exclusive, renewable, expiring leases on names in one folder.

This module knows nothing about jobs: it leases a *name*. Work, notification and
resource leases are the same mechanism on three folders.

The protocol (docs/format.md, "Leases", states it with its invariants):

* **Holders.** A holder (one per store object and lease length) keeps one record
  file, ``holders/<token>``: its random token, host, pid, lease length and a beat
  counter, at a fixed width. Every lease it holds is a *hard link* to that file,
  so holding a lease costs a directory entry, not a file, and one write renews
  every lease of the holder at once.
* **Acquire** a free name: ``link(holders/<token>, <name>)``. ``link`` never replaces
  an existing name, so exactly one linker succeeds, on a local disk and over NFS
  (where a retried link whose first reply was lost says EEXIST: the name then
  holds our own record, which counts as success).
* **Renew**: every ``lease_seconds / 3`` the holder rewrites its record in place
  through its own descriptor with the beat counter advanced (``pwrite`` of the
  fixed-width record, then ``fsync`` so other NFS clients see it), then re-reads
  each of its names to check that they still hold its token. Writing through the
  descriptor can never touch another holder's record.
* **Expire**: a contender reads the record on every sweep and remembers when, by
  its own monotonic clock, it last saw it change. A record that stayed the same for
  ``lease_seconds`` of the contender's clock is expired. No wall clock and no file
  mtime is ever compared, so hosts need not agree on the time. A holder whose
  record is older than a third of its lease writes a fresh beat before it links a
  new name, so an idle holder's old record never makes a new lease look expired.
* **Take over** an expired lease: contenders take turns by creating
  ``<name>.break`` with ``O_EXCL``. The one holding it re-reads the lease and, only
  if the record is still the expired one, links its own record as
  ``<name>.new-<random>`` and renames that over ``<name>``. The name never goes
  missing, so a plain acquire cannot slip in, and the old holder's next check
  finds a token that is not its own.
* **Fence**: every commit first checks the record on disk still carries the
  holder's token (renewing first if the last renewal is old). A holder that finds
  its token gone is *compromised*: its callback is called once and every later
  commit raises LeaseLost.

filelock's ``SoftFileLease`` needs ``renameat2(RENAME_EXCHANGE)`` to take over, which
NFS refuses, and ``SoftReadWriteLock`` costs ~3.8 ms and a thread per lock; this
protocol costs one ``link`` to acquire and one ``unlink`` to release, and one
renewal thread per store for all its leases.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable

from . import fsio
from .errors import CorruptJobFile, LeaseLost
from .fsio import Folder
from .job import now_text

log = logging.getLogger("fsjobstore")

_HOST_JSON = json.dumps(socket.gethostname())
# A holder trusts its lease without asking the disk only this long after its last
# renewal, leaving contenders' clocks room to run fast (they need a full
# lease_seconds of an unchanged record before they take over).
_TRUST_FRACTION = 0.5

# Objects that must forget, in a forked child, what belongs to the parent: the
# child inherits the parent's descriptors but not its leases, and must never renew
# them (that would keep a dead parent's leases alive).
_FORGET_IN_CHILD: weakref.WeakSet[Renewer | Holders | LeaseFolder] = weakref.WeakSet()


def _forget_in_child() -> None:
    for each in list(_FORGET_IN_CHILD):
        each._forget()


os.register_at_fork(after_in_child=_forget_in_child)


class Holder:
    """One holder's record file; every lease it holds is a hard link to it."""

    def __init__(self, folder: Folder, seconds: float, *, sync: bool) -> None:
        self.seconds = seconds
        self.token = os.urandom(16).hex()
        self.path = folder.join(self.token)
        self._sync = sync
        self._beat = 0
        self._lock = threading.Lock()
        started = time.monotonic()
        self._fd = fsio.open_new(self.path, os.O_RDWR)
        try:
            fsio.share(self._fd, folder)
            os.pwrite(self._fd, self._record(), 0)
        except BaseException:
            self.close()
            raise
        self.renewed_at = started

    def _record(self) -> bytes:
        # Fixed width for a given holder, so rewriting in place never leaves a
        # longer tail. "seconds" tells contenders how long to wait before taking over.
        return (
            f'{{"token": "{self.token}", "host": {_HOST_JSON}, "pid": {os.getpid()}, '
            f'"seconds": {self.seconds!r:>12}, "beat": "{self._beat:012d}", "renewed_at": "{now_text()}"}}\n'
        ).encode()

    @property
    def stale(self) -> bool:
        """Its record is older than a renewal period (an idle holder's)."""
        return time.monotonic() - self.renewed_at >= self.seconds / 3

    def beat(self) -> str | None:
        """Advance the beat counter in place; the reason it failed, or None."""
        with self._lock:
            started = time.monotonic()
            self._beat += 1
            try:
                os.pwrite(self._fd, self._record(), 0)
                if self._sync:
                    os.fsync(self._fd)
            except OSError as exc:
                return f"renewal failed: {exc}"
            self.renewed_at = started
            return None

    def owns(self, path: str) -> bool:
        """Whether the name *path* holds this holder's record."""
        try:
            return self.token.encode() in fsio.read(path)
        except (FileNotFoundError, CorruptJobFile):
            return False

    def close(self, *, remove: bool = True) -> None:
        fd, self._fd = self._fd, -1  # later writes fail (EBADF), never reach a reused number
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
        if remove:
            fsio.remove(self.path)


class Holders:
    """The holder records of one store object, one per lease length, made on first use."""

    def __init__(self, folder: Folder, *, sync: bool = True) -> None:
        self.folder = folder
        self.sync = sync
        self._lock = threading.Lock()
        self._by_seconds: dict[float, Holder] = {}
        self._retired: list[Holder] = []
        _FORGET_IN_CHILD.add(self)

    def get(self, seconds: float) -> Holder:
        """The holder for leases of *seconds*, with a record fresh enough to link."""
        with self._lock:
            holder = self._by_seconds.get(seconds)
            if holder is None:
                if self.folder.fd is None:  # (a store's is made and anchored when it opens)
                    fsio.make_folder(self.folder.path, shared=self.folder.shared)
                holder = self._by_seconds[seconds] = Holder(self.folder, seconds, sync=self.sync)
        # (A holder whose record was removed is found when linking to it fails:
        # LeaseFolder._link_holder replaces it then.)
        if holder.stale and holder.beat() is not None:
            return self.replace(holder)
        return holder

    def replace(self, holder: Holder) -> Holder:
        """A new holder instead of one whose record file is gone or cannot be written
        (purge removes an idle holder's file after an hour). The old one is kept
        open, not closed, while leases may still be linked to it: they keep
        renewing through it, and lose at their next renewal if that fails."""
        with self._lock:
            current = self._by_seconds.get(holder.seconds)
            if current is holder:
                self._retired.append(holder)
                current = self._by_seconds[holder.seconds] = Holder(self.folder, holder.seconds, sync=self.sync)
            assert current is not None
            return current

    def close(self) -> None:
        with self._lock:
            holders, self._by_seconds = [*self._by_seconds.values(), *self._retired], {}
            self._retired = []
        for holder in holders:
            holder.close()

    def _forget(self) -> None:
        for holder in [*self._by_seconds.values(), *self._retired]:
            holder.close(remove=False)
            holder._lock = threading.Lock()
        self._lock = threading.Lock()
        self._by_seconds = {}
        self._retired = []


class Held:
    """One lease this process holds: a name linked to one of its holders' records."""

    __slots__ = (
        "name",
        "path",
        "holder",
        "compromised",
        "reason",
        "released",
        "probe",
        "_folder",
        "_lock",
        "_on_compromised",
    )

    def __init__(self, folder: LeaseFolder, name: str, path: str, holder: Holder) -> None:
        self.name = name
        self.path = path
        self.holder = holder
        self.compromised = False
        self.reason = ""
        self.released = False
        # Asked after each renewal: a reason the lease is no longer wanted, or None.
        self.probe: Callable[[], str | None] | None = None
        self._folder = folder
        self._lock = threading.Lock()
        self._on_compromised: Callable[[Held], None] | None = None

    @property
    def token(self) -> str:
        return self.holder.token

    @property
    def seconds(self) -> float:
        return self.holder.seconds

    @property
    def renewed_at(self) -> float:
        return self.holder.renewed_at

    @property
    def renew_at(self) -> float:
        return self.holder.renewed_at + self.holder.seconds / 3

    def set_seconds(self, seconds: float) -> None:
        """Change the lease's length (and tell contenders at once): relink the name
        to the holder of that length, by an atomic rename over it."""
        with self._lock:
            if self.released or self.compromised or seconds == self.holder.seconds:
                return
            # Only a lease still ours is relinked (a holder paused since it acquired
            # may have been taken over): the same check as a commit's fence.
            self._confirm(beat=self._old())
            if self.compromised:
                return
            try:
                holder = self._folder._relink(self.name, seconds)
            except OSError as exc:
                self._lose(f"could not change its length: {exc}")
            else:
                self.holder = holder
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
                self._confirm(beat=self._old())
            lost, reason = self.compromised, self.reason
        if lost:
            self._notify()
            raise LeaseLost(f"lease on {self.name!r} was lost: {reason}")

    def renew(self, since: float | None = None) -> None:
        """Advance the holder's beat and check the lease is still ours.

        With *since*, the beat is skipped if the holder already beat at or after
        that time (the renewal thread renews all of a holder's leases with one write).
        """
        with self._lock:
            if self.released or self.compromised:
                return
            self._confirm(beat=since is None or self.holder.renewed_at < since)
            if not self.compromised and self.probe is not None:
                reason = self.probe()
                if reason:
                    self._lose(reason)
            lost = self.compromised
        if lost:
            self._notify()

    def _old(self) -> bool:
        """Whether the last renewal is too old to trust without renewing first."""
        return time.monotonic() - self.renewed_at > self.seconds * _TRUST_FRACTION

    def _confirm(self, *, beat: bool) -> None:
        """Renew first if *beat*, then check that the record on disk carries our token."""
        if beat:
            self._beat()
        if not self.compromised:
            self._verify()

    def _beat(self) -> None:
        failure = self.holder.beat()
        if failure is not None:
            self._lose(failure)

    def _verify(self) -> None:
        try:
            content = fsio.read(self.path)
        except FileNotFoundError:
            self._lose("its file is gone (taken over or removed)")
            return
        except (OSError, CorruptJobFile) as exc:
            self._lose(f"its file cannot be read: {exc}")
            return
        if self.holder.token.encode() not in content:
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
            self._folder._give_back(self)

    def _still_ours(self) -> bool:
        if not self._old():
            return True
        self._verify()
        return not self.compromised


class LeaseFolder:
    """Leases on the names of one folder, and what this process saw of others'."""

    def __init__(
        self,
        folder: Folder,
        lease_seconds: float,
        renewer: Renewer,
        *,
        sync: bool = True,
        holders: Holders | None = None,
    ) -> None:
        self.folder = folder
        self.lease_seconds = lease_seconds
        self.renewer = renewer
        # By default a folder of its own beside the leased folder (the store passes
        # one shared by all its lease folders).
        self.holders = holders or Holders(Folder(os.path.join(os.path.dirname(folder.path), "holders")), sync=sync)
        # name -> (record last read, monotonic time it was first read like that)
        self._seen: dict[str, tuple[bytes, float]] = {}
        # "<name>.break" -> ((inode, ctime), monotonic time first seen), to clear dead
        # contenders' files (forgotten once the file is gone)
        self._breakers: dict[str, tuple[tuple[int, int], float]] = {}
        self._next_sweep = 0.0
        # The names this process holds: never acquired twice (two holds of one name
        # by one holder would share its token, and the fence could not tell them apart).
        self._mine: dict[str, Held] = {}
        # name -> holder of a lease link whose removal failed (see _give_back)
        self._orphans: dict[str, Holder] = {}
        self._lock = threading.Lock()
        _FORGET_IN_CHILD.add(self)

    def acquire(self, name: str) -> Held | None:
        """Take the lease on a free *name*; None if somebody holds it."""
        path = self.folder.join(name)
        with self._lock:
            mine = self._mine.get(name)
            if mine is not None and not mine.compromised:
                return None
            try:
                holder = self._link_holder(self.lease_seconds, path)
            except FileExistsError:
                # Over NFS a link whose reply was lost is retried and says EEXIST
                # although the first try made it: then the name holds our record.
                holder = self.holders.get(self.lease_seconds)
                if not holder.owns(path):
                    return None
            held = self._mine[name] = Held(self, name, path, holder)
        self.renewer.add(held)
        return held

    def _link_holder(self, seconds: float, path: str) -> Holder:
        """Link the record of our holder for *seconds* as *path*; return that holder.
        FileExistsError if *path* exists."""
        holder = self.holders.get(seconds)
        try:
            fsio.link(holder.path, path)
        except FileNotFoundError:
            if not fsio.exists(self.folder.path):
                raise
            holder = self.holders.replace(holder)  # its record was removed meanwhile
            fsio.link(holder.path, path)
        return holder

    def _relink(self, name: str, seconds: float) -> Holder:
        """Point the lease on *name* at our holder for *seconds* in one atomic step:
        link that record as a fresh ``<name>.new-<random>``, rename it over the name.
        Returns the holder; on failure the temp link is removed and the error raised.

        Over NFS a retried call whose first reply was lost may fail though it
        worked: EEXIST from the link (the random name is known to nobody else),
        ENOENT from the rename. Each counts as done if the name it made holds the
        token of the holder linked (before, the lease held an expired record, or
        our holder of the other length).
        """
        temp = self.folder.join(f"{name}.new-{os.urandom(8).hex()}")
        path = self.folder.join(name)
        try:
            try:
                holder = self._link_holder(seconds, temp)
            except FileExistsError:
                holder = self.holders.get(seconds)
                if not holder.owns(temp):
                    raise
            try:
                fsio.rename(temp, path)
            except FileNotFoundError:
                if fsio.exists(temp) or not holder.owns(path):
                    raise
        except BaseException:
            fsio.remove(temp)  # a link to our live holder: purge would find it fresh while we live
            raise
        return holder

    def _give_back(self, held: Held) -> None:
        """Remove a released lease's link and forget it, as one step for this
        process's other threads (under the lock acquires take): an acquire of the
        name in between would find it still ours and give up."""
        with self._lock:
            try:
                if not held.compromised:
                    if held._still_ours():
                        fsio.remove(held.path)
                elif self._mine.get(held.name) is held and held.holder.owns(held.path):
                    # Lost for a reason other than a take-over (its job was resolved
                    # elsewhere, a renewal failed), it may still be our link, which
                    # our holder's other leases would keep alive: remove it too.
                    fsio.remove(held.path)
            except OSError as exc:
                # A link we failed to remove stays alive through our holder's other
                # leases, so nobody else could ever take it over: sweeps retry it.
                log.warning("could not remove lease file %s (retried at the next sweep): %s", held.path, exc)
                self._orphans[held.name] = held.holder
            finally:
                if self._mine.get(held.name) is held:
                    del self._mine[held.name]

    def _remove_orphans(self) -> None:
        with self._lock:
            for name, holder in list(self._orphans.items()):
                path = self.folder.join(name)
                try:
                    if name not in self._mine and holder.owns(path):
                        fsio.remove(path)
                except OSError:
                    continue
                del self._orphans[name]

    def sweep_due(self) -> bool:
        return time.monotonic() >= self._next_sweep

    def sweep(self) -> list[str]:
        """Read every lease record; return the names whose record has expired."""
        now = time.monotonic()
        self._next_sweep = now + self.lease_seconds / 4
        if self._orphans:
            self._remove_orphans()
        if self._breakers:
            self._breakers = {path: seen for path, seen in self._breakers.items() if fsio.exists(path)}
        seen: dict[str, tuple[bytes, float]] = {}
        expired = []
        for name in fsio.scan(self.folder, ""):
            try:
                content = fsio.read(self.folder.join(name))
            except (FileNotFoundError, CorruptJobFile):
                continue  # gone, or a planted symlink (check reports it)
            before = self._seen.get(name)
            seen[name] = entry = before if before is not None and before[0] == content else (content, now)
            if now - entry[1] >= _record_seconds(content, self.lease_seconds) and name not in self._mine:
                expired.append(name)
        self._seen = seen
        return expired

    def take_over(self, name: str) -> Held | None:
        """Replace the expired lease on *name* with ours; None if that is unsafe.

        Contenders take turns through ``<name>.break`` (created with O_EXCL).
        The one holding it re-reads the lease and, only if the record is still
        the expired one, renames a link to its own record over it: the name never
        goes missing, so no plain acquire can slip in, and a holder checking at
        that moment sees either its record or the new one.
        """
        expired = self._seen.pop(name, None)
        if expired is None:
            return None
        path = self.folder.join(name)
        breaker = self.folder.join(name + ".break")
        try:
            os.close(fsio.open_new(breaker))
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

    def _replace(self, name: str, path: str, expired: bytes) -> Held | None:
        with self._lock:
            if name in self._mine:
                return None
            holder = self._relink(name, self.lease_seconds)
            held = self._mine[name] = Held(self, name, path, holder)
        self.renewer.add(held)
        log.info("took over expired lease %s (holder record: %s)", path, expired.decode("utf-8", "replace").strip())
        return held

    def _expire_breaker(self, breaker: str) -> None:
        """Remove a ``.break`` file left by a contender that died while holding it
        (one that stayed for a whole lease length of our clock)."""
        try:
            info = fsio.lstat(breaker)
        except FileNotFoundError:
            return
        # Inode numbers are reused at once on ext4: with the change time, a new
        # contender's file is never mistaken for the dead one's.
        identity = (info.st_ino, info.st_ctime_ns)
        now = time.monotonic()
        seen = self._breakers.get(breaker)
        if seen is None or seen[0] != identity:
            self._breakers[breaker] = (identity, now)
        elif now - seen[1] >= self.lease_seconds:
            fsio.remove(breaker)
            del self._breakers[breaker]

    def is_held(self, name: str) -> bool:
        return fsio.exists(self.folder.join(name))

    def _forget(self) -> None:
        # The parent's leases are not the child's: it must never commit through them
        # (their token is the parent's) nor remove them.
        for held in self._mine.values():
            held.released = True
            held._lock = threading.Lock()
        self._mine = {}
        self._orphans = {}
        self._lock = threading.Lock()


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
        # When the thread's current wait ends (monotonic): a lease due earlier wakes it.
        self._sleeps_until = -math.inf
        _FORGET_IN_CHILD.add(self)

    def _forget(self) -> None:
        self._held = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._sleeps_until = -math.inf

    def add(self, held: Held) -> None:
        with self._lock:
            self._held.add(held)
            if self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(target=self._run, name="fsjobstore-renewer", daemon=True)
                self._thread.start()
        # The new lease may be due before the thread's next wake-up (its holder may
        # have beaten long ago, or be shorter than every other lease held). Only
        # then is it woken: waking it for every lease would cost a thread switch
        # per pull.
        if held.renew_at < self._sleeps_until:
            self._wake.set()

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
            # All the due leases first: once one of a holder's leases has beaten, the
            # others no longer look due, but each must still be checked (and probed).
            for lease in [lease for lease in held if lease.renew_at <= now]:
                try:
                    lease.renew(since=now)
                except Exception:
                    log.exception("renewing lease %r failed", lease.name)
            with self._lock:
                next_due = min((lease.renew_at for lease in self._held), default=now + 1.0)
                self._sleeps_until = next_due
            self._wake.wait(max(0.0, next_due - time.monotonic()))
            with self._lock:
                self._sleeps_until = -math.inf  # awake: a lease added now is seen by this round
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
