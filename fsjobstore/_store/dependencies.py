"""Job dependencies: a job created after others (its parents, ``create(after=...)``)
waits in ``blocked/``, in no queue, so pulls never see it. Each parent has a folder
of markers naming its dependants, so whoever resolves it finds them without a
scan, and *settles* each: under the dependant's work lease, releases it into its
queue once every parent is fulfilled, or resolves it cancelled when one ends
otherwise (or releases it anyway, with ``on_parent_failure="run"``). A settler
that crashed midway is healed by a sweep of ``blocked/`` (every lease length, by
pullers; and ``check --repair``). Steps and why: docs/format.md, "Dependencies"."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from .._files import folders, fsio
from .._files.ids import check_id
from .._files.layout import RECORD_SUFFIX, Layout
from .._files.records import Record
from .._files.values import NO_VALUE
from .._leases import Lease, LeaseFolder, clock
from ..errors import CorruptJobFile, JobNotFound, UnknownParent
from ..job import CANCELLED, FULFILLED, ON_PARENT_FAILURE, RESOLVED_STATES

log = logging.getLogger("fsjobstore")

MAX_PARENTS = 100
# A settler holds a dependant's lease for a few file operations: another one that
# finds it held waits this long for it, then leaves the dependant to the sweep.
SETTLE_TRIES = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)

# How the reason a dependant was cancelled for begins.
_CANCELLED = "cancelled: "


class Jobs(Protocol):
    """What settling needs of a store object (its StoreContext, which settles the
    dependants of each job it resolves)."""

    layout: Layout
    durable: bool
    work_leases: LeaseFolder

    def read(self, job_id: str) -> tuple[Record, str]: ...

    def report(self, exc: CorruptJobFile) -> None: ...

    def write_pending(self, record: Record) -> None: ...

    def publish_resolved(self, job_id: str, data: bytes, *, replace: bool = False) -> None: ...

    def finish_resolution(self, job_id: str, *, blocked: bool = False) -> bool: ...


def check_after(ctx: Jobs, after: Sequence[str] | None, on_parent_failure: str, key: str | None) -> dict[str, Any]:
    """The fields of a new job's record that name its parents (each once, in the order
    given) and its policy; raises (nothing written) for a malformed list or policy, and
    UnknownParent for a parent that does not exist. Parents exist before their
    dependant, so dependencies can never form a cycle."""
    if key is not None:
        raise ValueError("a job with a unique key cannot wait for others (after=): create it when they are done")
    if after is None:
        raise ValueError("on_parent_failure is for a job made with after: give the jobs it waits for")
    if isinstance(after, str) or not isinstance(after, Sequence):
        raise TypeError(f"after must be a list of job ids, not {type(after).__name__}")
    if on_parent_failure not in ON_PARENT_FAILURE:
        raise ValueError(f"on_parent_failure must be one of {', '.join(ON_PARENT_FAILURE)}, "
                         f"not {on_parent_failure!r}")
    parents = list(dict.fromkeys(after))
    if not parents:
        raise ValueError("after is empty: give the ids of the jobs to wait for, or no after")
    if len(parents) > MAX_PARENTS:
        raise ValueError(f"after names {len(parents)} jobs; a job waits for at most {MAX_PARENTS}")
    for parent in parents:
        check_id(parent)
        try:
            ctx.read(parent)
        except JobNotFound:
            raise UnknownParent(parent) from None
    return {"after": parents} | ({"on_parent_failure": on_parent_failure} if on_parent_failure != "cancel" else {})


class Dependencies:
    """The dependants of one store object's jobs: made blocked, settled, healed."""

    def __init__(self, ctx: Jobs, lease_seconds: float) -> None:
        self.ctx = ctx
        self._sweep_every = lease_seconds
        # Parents resolved while this thread settles dependants (a cancelled dependant
        # is a resolved parent in turn): handled in a loop, not by recursion.
        self._local = threading.local()
        self._next_sweep = 0.0
        self._after: dict[str, tuple[str, ...]] = {}  # the parents of each blocked job seen (never change)

    # -- creating -----------------------------------------------------------------

    def mark(self, record: Record) -> None:
        """Name the new job in each of its parents' markers (before its record is
        published: a resolver that finds a marker and no record leaves it to the
        creator, who settles the job once published)."""
        ctx = self.ctx
        for parent in record.get("after"):
            folder = ctx.layout.dependants_folder(parent)
            if folders.make_folder(folder.path, shared=ctx.layout.shared) and ctx.durable:
                ctx.layout.dependants.sync()
            fsio.create_empty(folder, record.id, durable=ctx.durable)

    def publish(self, record: Record, *, replace: bool) -> bool:
        """Publish the blocked record (create-if-absent unless *replace*); whether it is
        the job's first record (False: the id was taken, or the job was made and
        released under it before)."""
        ctx, job_id = self.ctx, record.id
        try:
            fsio.publish(ctx.layout.tmp, ctx.layout.blocked, job_id + RECORD_SUFFIX, record.render(),
                         durable=ctx.durable, replace=replace)
        except FileExistsError:
            return False
        if replace:
            return True
        layout = ctx.layout
        if fsio.exists(layout.resolved_path(job_id)) or fsio.exists(layout.pending_path(job_id)):
            self.settle(job_id)  # (removes the copy just made)
            return False
        return True

    # -- settling -----------------------------------------------------------------

    def parent_resolved(self, parent: str) -> None:
        """Settle the blocked dependants of *parent*, just resolved (its resolved
        record published first: a creator that checks after publishing sees it)."""
        if not fsio.exists_in(self.ctx.layout.dependants, parent):
            return  # (the common case: one lstat)
        queue: list[str] | None = getattr(self._local, "queue", None)
        if queue is not None:
            queue.append(parent)
            return
        self._local.queue = queue = [parent]
        try:
            while queue:
                for child in self.dependants(queue.pop()):
                    if fsio.exists(self.ctx.layout.blocked_path(child)):
                        self.settle(child)
        finally:
            self._local.queue = None

    def dependants(self, parent: str) -> list[str]:
        """The ids of the jobs made after *parent*, oldest first (purged ones too)."""
        try:
            return sorted(folders.scan(self.ctx.layout.dependants_folder(parent), ""))
        except CorruptJobFile as exc:  # (a symlink planted as the folder: never followed)
            self.ctx.report(exc)
            return []

    def settle(self, job_id: str) -> None:
        """Under the job's work lease: release it into its queue if its parents allow,
        cancel it if one failed, or leave it blocked. Exactly once in effect: the
        lease keeps two settlers apart, and each step is a no-op once done."""
        ctx = self.ctx
        lease = self._lease(job_id)
        if lease is None:
            return  # held by another settler (or a purge): theirs, or the next sweep's
        try:
            path = ctx.layout.blocked_path(job_id)
            try:
                record = Record.load(path, job_id)
            except FileNotFoundError:
                return  # settled already
            except CorruptJobFile as exc:
                ctx.report(exc)
                return
            layout = ctx.layout
            if fsio.exists(layout.resolved_path(job_id)) or fsio.exists(layout.pending_path(job_id)):
                fsio.remove(path)  # a settler or a cancel stopped after its first step: finished
                return
            reason = self.verdict(record)
            if reason is None:
                return
            if reason == "":
                # Released: its queue's record first, then the blocked one goes (a crash
                # between leaves both: a reader takes the pending one, the sweep removes
                # the other). Its delay starts now (the new file's mtime).
                ctx.write_pending(record.changed())
                fsio.remove(path)
                return
            cancelled = record.resolved(CANCELLED, NO_VALUE, reason, record.attempts)
            try:
                ctx.publish_resolved(job_id, cancelled.render())
            except FileExistsError:
                pass  # resolved by someone else meanwhile (a cancel): finished below all the same
            ctx.finish_resolution(job_id, blocked=True)
        finally:
            lease.release()

    def _lease(self, job_id: str) -> Lease | None:
        leases = self.ctx.work_leases
        for wait in SETTLE_TRIES:
            lease = leases.acquire(job_id)
            if lease is not None:
                return lease
            time.sleep(wait)
        return leases.acquire(job_id)

    def verdict(self, record: Record) -> str | None:
        """None: wait (a parent is unresolved); "": release; else the reason to cancel."""
        run_anyway = record.get("on_parent_failure") == "run"
        unresolved = False
        for parent in record.get("after") or ():
            try:
                parent_record, state = self.ctx.read(parent)
            except JobNotFound:
                failure = f"parent {parent} no longer exists (purged or deleted)"
            except CorruptJobFile as exc:
                self.ctx.report(exc)
                unresolved = True  # (left blocked until the file is repaired)
                continue
            else:
                if state == FULFILLED:
                    continue
                if state not in RESOLVED_STATES:
                    unresolved = True
                    continue
                error = parent_record.get("error")
                if error and error.startswith(_CANCELLED):  # (a chain: one "cancelled" per link)
                    error = error[len(_CANCELLED):]
                failure = f"parent {parent} {state}" + (f": {error}" if error else "")
            if not run_anyway:
                return _CANCELLED + failure
        return None if unresolved else ""

    # -- healing ------------------------------------------------------------------

    def sweep(self) -> None:
        """Every lease_seconds per store object (pullers call it): settle each blocked
        job that a settler or creator left unsettled (it crashed, or found the job's
        lease held). One listing of ``blocked/`` (blocked jobs only) and a few lstats
        per job: whether it is pending or resolved too, and whether each parent is
        resolved (or gone); its record is read once per store object, for its parents."""
        now = clock.now()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_every
        for job_id, _ in self.unsettled(thorough=False):
            try:
                self.settle(job_id)
            except OSError as exc:  # (a full disk: the next sweep tries again)
                log.warning("cannot settle blocked job %s: %s", job_id, exc)
                return

    def unsettled(self, *, thorough: bool = True) -> Iterator[tuple[str, str]]:
        """(id, why) of each blocked job that should not be: its record is also in its
        queue or resolved, or its parents let it go (*thorough*: as settling decides,
        reading each parent; else only when every parent is resolved or gone, from
        lstats: a job cancelled by one failure while others are pending is left to
        check, or to the resolvers of the others). Not one whose work lease is held: a
        settler is at it (or died at it: a puller takes that lease over and lets it
        go, and the next look finds the job)."""
        ctx = self.ctx
        layout = ctx.layout
        listed = list(folders.scan(layout.blocked, RECORD_SUFFIX))
        self._after = {job_id: self._after[job_id] for job_id in listed if job_id in self._after}
        for job_id in listed:
            if ctx.work_leases.is_held(job_id):
                continue
            if fsio.exists(layout.resolved_path(job_id)) or fsio.exists(layout.pending_path(job_id)):
                yield job_id, "blocked, and also pending or resolved"
                continue
            if thorough or job_id not in self._after:
                try:
                    record = Record.load(layout.blocked_path(job_id), job_id)
                except FileNotFoundError:
                    continue
                except CorruptJobFile as exc:
                    ctx.report(exc)
                    continue
                self._after[job_id] = tuple(record.get("after") or ())
                if thorough:
                    if self.verdict(record) is not None:
                        yield job_id, "blocked, though its parents let it go"
                    continue
            if all(self._over(parent) for parent in self._after[job_id]):
                yield job_id, "blocked, though its parents are resolved"

    def _over(self, parent: str) -> bool:
        """Whether *parent* is resolved, or gone (three lstats at most)."""
        layout = self.ctx.layout
        return fsio.exists(layout.resolved_path(parent)) or not (
            fsio.exists(layout.pending_path(parent)) or fsio.exists(layout.blocked_path(parent)))

    def needed(self, parent: str) -> bool:
        """Whether a dependant of *parent* is still to run (blocked, or pending in its
        queue), and so may still read its value: a purge keeps *parent* then."""
        layout = self.ctx.layout
        if not folders.has_folder(layout.dependants, parent):
            return False  # (the common case: one open, as a listing makes)
        return any(fsio.exists(layout.blocked_path(child)) or fsio.exists(layout.pending_path(child))
                   for child in self.dependants(parent))

    def forget(self, parent: str) -> None:
        """Remove the markers of a purged or deleted *parent*."""
        if folders.remove_empty_in(self.ctx.layout.dependants, parent):
            return  # (the common case: none, and no folder)
        folder = self.ctx.layout.dependants_folder(parent)
        for child in self.dependants(parent):
            fsio.remove(folder.join(child))
        folders.remove_folder_if_empty(folder.path)

