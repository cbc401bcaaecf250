"""One lease this process holds: a name linked to one of its holders' records."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from .._files import fsio
from ..errors import CorruptJobFile, LeaseLost, Loss, LossReason
from . import clock
from .holders import HolderRecord
from .renewer import Renewer

log = logging.getLogger("fsjobstore")

# A holder trusts its lease without asking the disk only this long after its last
# renewal, leaving contenders' clocks room to run fast (they need a full
# lease_seconds of an unchanged record before they take over).
TRUST_FRACTION = 0.5


class LeaseOwner(Protocol):
    """The folder a lease is on (a LeaseFolder): what a lease asks of it."""

    renewer: Renewer

    def relink(self, name: str, seconds: float) -> HolderRecord:
        """Point the lease on *name* at our holder for *seconds*, atomically."""

    def give_back(self, lease: Lease) -> None:
        """Remove a released lease's link and forget it."""


class Lease:
    """One lease this process holds: a name linked to one of its holders' records."""

    __slots__ = (
        "name",
        "path",
        "holder",
        "loss",
        "compromised",
        "released",
        "taken_from",
        "still_wanted",
        "committed",
        "_owner",
        "_lock",
        "_commit_lock",
        "_on_compromised",
    )

    def __init__(self, owner: LeaseOwner, name: str, path: str, holder: HolderRecord) -> None:
        self.name = name
        self.path = path
        self.holder = holder
        self.loss: Loss | None = None
        # loss is not None, kept as a flag: it is asked on every pull and commit.
        self.compromised = False
        self.released = False
        # The record of the holder that stopped renewing, if the lease was taken
        # over from it (None: acquired free).
        self.taken_from: bytes | None = None
        # Asked after each renewal: why the lease is no longer wanted, or None.
        self.still_wanted: Callable[[], Loss | None] | None = None
        # Set by the commit made through the lease (see begin_commit).
        self.committed = False
        self._owner = owner
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._on_compromised: Callable[[Lease], None] | None = None

    @property
    def taken_over(self) -> bool:
        return self.taken_from is not None

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
                holder = self._owner.relink(self.name, seconds)
            except OSError as exc:
                self._lose(LossReason.RELENGTH_FAILED, str(exc))
            else:
                self.holder = holder
        self._owner.renewer.wake()

    # -- checks -------------------------------------------------------------------

    def begin_commit(self) -> None:
        """Start the one commit through this lease, ever (end it with end_commit):
        commits through one lease are made one at a time, and once one took effect
        (the caller sets ``committed``) every later one raises LeaseLost. (Without
        this two threads could both pass the fence before either released the
        lease, and both commit.)"""
        self._commit_lock.acquire()
        if self.committed:
            self._commit_lock.release()
            raise LeaseLost(f"lease on {self.name!r} was already used to commit")

    def end_commit(self) -> None:
        self._commit_lock.release()

    def check(self, *, final: bool = False) -> None:
        """Raise LeaseLost unless the record on disk still carries our token.

        ``final=True`` is for the check before the commit that ends the lease:
        ``still_wanted`` is dropped, so the commit itself is not mistaken for a loss.
        """
        with self._lock:
            if self.released:
                raise LeaseLost(f"lease on {self.name!r} was already released")
            if final:
                self.still_wanted = None
            if not self.compromised:
                self._confirm(beat=self._old())
            loss = self.loss
        if loss is not None:
            self._notify()
            raise LeaseLost(f"lease on {self.name!r} was lost: {loss}")

    def renew(self, since: float | None = None) -> None:
        """Advance the holder's beat and check the lease is still ours.

        With *since*, the beat is skipped if the holder already beat at or after
        that time (the renewal thread renews all of a holder's leases with one write).
        """
        with self._lock:
            if self.released or self.compromised:
                return
            self._confirm(beat=since is None or self.holder.renewed_at < since)
            if not self.compromised and self.still_wanted is not None:
                loss = self.still_wanted()
                if loss is not None:
                    self._lose(loss.reason, loss.detail)
            lost = self.compromised
        if lost:
            self._notify()

    def _old(self) -> bool:
        """Whether the last renewal is too old to trust without renewing first."""
        return clock.now() - self.renewed_at > self.seconds * TRUST_FRACTION

    def _confirm(self, *, beat: bool) -> None:
        """Renew first if *beat*, then check that the record on disk carries our token."""
        if beat:
            self._beat()
        if not self.compromised:
            self._verify()

    def _beat(self) -> None:
        failure = self.holder.beat()
        if failure is not None:
            self._lose(LossReason.RENEWAL_FAILED, failure)

    def _verify(self) -> None:
        try:
            content = fsio.read(self.path)
        except FileNotFoundError:
            self._lose(LossReason.REMOVED)
            return
        except (OSError, CorruptJobFile) as exc:
            self._lose(LossReason.UNREADABLE, str(exc))
            return
        if self.holder.token.encode() not in content:
            self._lose(LossReason.TAKEN_OVER)

    def watch(self, callback: Callable[[Lease], None] | None) -> None:
        """Call *callback* once if the lease is lost (at once if it already is)."""
        with self._lock:
            self._on_compromised = callback
            lost = self.compromised
        if lost:
            self._notify()

    def _lose(self, reason: LossReason, detail: str = "") -> None:
        if self.loss is None:
            self.loss = Loss(reason, detail)
            self.compromised = True
            self._owner.renewer.discard(self)

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
            self._owner.renewer.discard(self)
            self._owner.give_back(self)

    def forget(self) -> None:
        """Count as released without touching the file (a forked child's copy)."""
        self.released = True
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def still_ours(self) -> bool:
        """Whether the lease is still ours, asking the disk only if the last renewal
        is too old to trust (for a release: never remove a link another holder made)."""
        if not self._old():
            return True
        self._verify()
        return not self.compromised

