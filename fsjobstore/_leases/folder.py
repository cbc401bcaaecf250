"""Leases on the names of one folder, and what this process saw of others' leases."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from .._files import folders, fsio
from .._files.folders import Folder
from ..errors import CorruptJobFile
from . import clock
from .fork import forget_in_child
from .holders import HolderPool, HolderRecord
from .lease import TRUST_FRACTION, Lease
from .renewer import Renewer

log = logging.getLogger("fsjobstore")


class LeaseFolder:
    """Leases on the names of one folder, and what this process saw of others'."""

    def __init__(
        self,
        folder: Folder,
        lease_seconds: float,
        renewer: Renewer,
        holders: HolderPool,
    ) -> None:
        self.folder = folder
        self.lease_seconds = lease_seconds
        self.renewer = renewer
        self.holders = holders
        # name -> (record last read, monotonic time it was first read like that)
        self._seen: dict[str, tuple[bytes, float]] = {}
        # "<name>.break" -> ((inode, ctime), monotonic time first seen), to clear dead
        # contenders' files (forgotten once the file is gone)
        self._breakers: dict[str, tuple[tuple[int, int], float]] = {}
        self._next_sweep = 0.0
        # The names this process holds: never acquired twice (two holds of one name
        # by one holder would share its token, and the fence could not tell them apart).
        self._mine: dict[str, Lease] = {}
        # The names held for a moment by held_briefly (never acquired meanwhile, as _mine).
        self._brief: set[str] = set()
        # name -> holder of a lease link whose removal failed (see give_back)
        self._orphans: dict[str, HolderRecord] = {}
        self._lock = threading.Lock()
        forget_in_child(self)

    def acquire(self, name: str) -> Lease | None:
        """Take the lease on a free *name*; None if somebody holds it."""
        path = self.folder.join(name)
        with self._lock:
            mine = self._mine.get(name)
            if (mine is not None and not mine.compromised) or name in self._brief:
                return None
            holder = self._link_free(path)
            if holder is None:
                return None
            held = self._mine[name] = Lease(self, name, path, holder)
        self.renewer.add(held)
        return held

    def _link_free(self, path: str) -> HolderRecord | None:
        """Link our holder's record as *path* (a name this process does not hold);
        that holder, or None if somebody holds the name."""
        try:
            return self._link_holder(self.lease_seconds, path)
        except FileExistsError:
            # Over NFS a link whose reply was lost is retried and says EEXIST
            # although the first try made it: then the name holds our record.
            holder = self.holders.get(self.lease_seconds)
            return holder if holder.owns(path) else None

    @contextmanager
    def held_briefly(self, name: str) -> Iterator[bool]:
        """Hold the lease on *name* while the block runs, if it is free (yields
        whether it was): one step of the caller's, short next to the lease (a
        purge's removal of one job). Linked and unlinked as any lease, but never
        renewed, so no Lease is made: the link is removed as a release removes
        one, at once while within the trusted part of the lease, else only if it
        still holds our token."""
        path = self.folder.join(name)
        with self._lock:
            mine = self._mine.get(name)
            holder = None
            if (mine is None or mine.compromised) and name not in self._brief:
                holder = self._link_free(path)
            if holder is not None:
                self._brief.add(name)
        if holder is None:
            yield False
            return
        linked = clock.now()
        try:
            yield True
        finally:
            with self._lock:
                self._brief.discard(name)
                try:
                    if clock.now() - linked <= self.lease_seconds * TRUST_FRACTION or holder.owns(path):
                        fsio.remove(path)
                except OSError as exc:
                    log.warning("could not remove lease file %s (retried at the next sweep): %s", path, exc)
                    self._orphans[name] = holder

    def _link_holder(self, seconds: float, path: str) -> HolderRecord:
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

    def relink(self, name: str, seconds: float) -> HolderRecord:
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

    def give_back(self, held: Lease) -> None:
        """Remove a released lease's link and forget it, as one step for this
        process's other threads (under the lock acquires take): an acquire of the
        name in between would find it still ours and give up."""
        with self._lock:
            try:
                if not held.compromised:
                    if held.still_ours():
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
        return clock.now() >= self._next_sweep

    def sweep(self) -> list[str]:
        """Read every lease record; return the names whose record has expired."""
        now = clock.now()
        self._next_sweep = now + self.lease_seconds / 4
        if self._orphans:
            self._remove_orphans()
        if self._breakers:
            self._breakers = {path: seen for path, seen in self._breakers.items() if fsio.exists(path)}
        seen: dict[str, tuple[bytes, float]] = {}
        expired = []
        for name in folders.scan(self.folder, ""):
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

    def take_over(self, name: str) -> Lease | None:
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

    def _replace(self, name: str, path: str, expired: bytes) -> Lease | None:
        with self._lock:
            if name in self._mine:
                return None
            holder = self.relink(name, self.lease_seconds)
            held = self._mine[name] = Lease(self, name, path, holder)
            held.taken_from = expired
        self.renewer.add(held)
        log.info("took over expired lease %s (holder record: %s)", path, expired.decode("utf-8", "replace").strip())
        return held

    def _expire_breaker(self, breaker: str) -> None:
        """Remove a ``.break`` file left by a contender that died while holding it
        (one that stayed for a whole lease length of our clock)."""
        identity = fsio.identity(breaker)
        if identity is None:
            return
        now = clock.now()
        seen = self._breakers.get(breaker)
        if seen is None or seen[0] != identity:
            self._breakers[breaker] = (identity, now)
        elif now - seen[1] >= self.lease_seconds:
            fsio.remove(breaker)
            del self._breakers[breaker]

    def is_held(self, name: str) -> bool:
        return fsio.exists(self.folder.join(name))

    @property
    def held(self) -> Mapping[str, Lease]:
        """The leases this process holds in the folder, by name (read-only)."""
        return MappingProxyType(self._mine)

    @property
    def orphans(self) -> frozenset[str]:
        """Names whose link this process failed to remove (retried at each sweep)."""
        return frozenset(self._orphans)

    @property
    def breakers(self) -> frozenset[str]:
        """``.break`` files of contenders this process is watching to expire."""
        return frozenset(self._breakers)

    def forget(self) -> None:
        # The parent's leases are not the child's: it must never commit through them
        # (their token is the parent's) nor remove them.
        for held in self._mine.values():
            held.forget()
        self._mine = {}
        self._brief = set()
        self._orphans = {}
        self._lock = threading.Lock()



def _record_seconds(content: bytes, default: float) -> float:
    """The lease length a holder wrote in its record (a torn or empty record: *default*)."""
    try:
        seconds = json.loads(content)["seconds"]
    except (ValueError, KeyError, TypeError):
        return default
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else default

