"""Job fulfilment: a worker leases a pending job, then fulfils or fails it; anyone
may cancel it, or retry it once failed. Each resolution publishes the resolved
record create-if-absent, so a job is resolved at most once."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from .._arguments import check_seconds
from .._files import fsio
from .._files.ids import check_id
from .._files.layout import bucket_of
from .._files.queues import ANYONE, address_name, check_address, queue_of
from .._files.records import Record
from .._files.values import NO_VALUE, StoredValue, encode_json, store_value
from .._leases import Lease
from ..errors import (
    CorruptJobFile,
    JobAlreadyResolved,
    JobBusy,
    JobStateError,
    JobTooLarge,
    LeaseLost,
    Loss,
    LossReason,
)
from ..interface import Limit, Pause, stopping
from ..job import CANCELLED, DISCARDED, EXPIRED, FAILED, FULFILLED, PENDING, RESOLVED_STATES, RETRIABLE_STATES, Job
from .attempts import EXPIRED_ERROR, expired_attempt, lease_attempt
from .context import StoreContext
from .handles import WorkLease
from .limits import slot_names, take_slot
from .pausing import PullPaused, stops_all
from .pulling import claim_or_release, pull
from .timing import past_deadline, wait_seconds

EXPIRED_TEXT = "expired: not started by its deadline"
_NO_TASKS: frozenset[str | None] = frozenset()


class Fulfilment:
    def __init__(self, ctx: StoreContext, on_due: Callable[[str], None]) -> None:
        self.ctx = ctx
        # Called with a job id after its resolution made targets due (immediate delivery).
        self._on_due = on_due

    # -- pulling ------------------------------------------------------------------

    def pull_work(self, on_compromised: Callable[[WorkLease], None] | None,
                  tasks: Collection[str | None] | None, to: str | None = None) -> WorkLease | None:
        if to is not None:
            check_address(to)
        ctx = self.ctx
        wanted = None if tasks is None else frozenset(tasks)
        pauses = ctx.pauses.current()
        if stops_all(pauses, wanted):
            return None
        ctx.dependencies.sweep()
        puller = _Puller(self, wanted, pauses, address_name(to))
        with ctx.pull_lock:
            try:
                lease = pull(ctx.work_leases, ctx.indexes_for(puller.address), puller.claim, puller.skip)
            except PullPaused:
                return None
        if lease is not None:
            lease.watch(on_compromised)
        return lease

    def read_for_claim(self, lease: Lease) -> Record | None:
        """The pending record of the job *lease* is on, or None (the lease released)
        if the job is gone, resolved or corrupt."""
        ctx = self.ctx
        job_id = lease.name
        path = ctx.layout.pending_path(job_id)
        try:
            record = Record.load(path, job_id, ctx.written.recall)
        except FileNotFoundError:
            lease.release()  # resolved and removed since it was listed
            return None
        except CorruptJobFile as exc:
            ctx.report(exc)
            # Not read again (each read of a corrupt record waits for its re-reads)
            # until the file is replaced, or for a lease length.
            ctx.index_of(job_id).defer(job_id, ctx.options.lease_seconds, fsio.identity(path))
            lease.release()
            return None
        except OSError:
            lease.release()  # EIO, ESTALE after retries: the job stays pullable
            raise
        if fsio.exists_in(ctx.layout.resolved, ctx.layout.resolved_name(job_id)):
            # A resolver crashed after publishing the result: finish its work.
            ctx.finish_resolution(job_id)
            lease.release()
            return None
        return record

    def start(self, lease: Lease, record: Record, slots: tuple[Lease, ...]) -> WorkLease | None:
        """The WorkLease on a job this puller will do: its lease length set, and an
        expired previous holder counted as a failed attempt."""
        if lease.taken_from is not None:
            # Its last holder stopped renewing (it died or hung): that was an attempt.
            # (Its delay, if any, is over: the rewrite must not start it again.)
            record = record.with_attempt(expired_attempt(record, lease.taken_from), attempts=record.attempts + 1,
                                         error=EXPIRED_ERROR, delay=None)
        handle = WorkLease(self, lease, record, slots)  # its release gives every lease back
        try:
            if record.get("lease_seconds"):
                lease.set_seconds(float(record.get("lease_seconds")))
            if lease.compromised:  # taken over while this puller was paused (see set_seconds)
                handle.release()
                return None
            if lease.taken_over:
                self.ctx.write_pending(record)
        except BaseException:
            handle.release()
            raise
        resolved, name = self.ctx.layout.resolved, self.ctx.layout.resolved_name(lease.name)
        lease.still_wanted = lambda: Loss(LossReason.RESOLVED_ELSEWHERE) if fsio.exists_in(resolved, name) else None
        return handle

    # -- commits ------------------------------------------------------------------

    def fulfill(self, job_id: str, value: Any, *, lease: WorkLease | None = None) -> Job:
        return self.resolve(job_id, FULFILLED, store_value(value, self.ctx.options.max_bytes), None, lease)

    def fail(self, job_id: str, error: str | BaseException, *, lease: WorkLease | None = None,
             retry: bool = False, delay: float | None = None, attempt: bool = True,
             trace: str | None = None) -> Job:
        message = _error_text(error)
        if delay is not None:
            check_seconds("delay", delay, zero=True)
        self._check_size("error", len(message.encode("utf-8")))
        if not retry:
            return self.resolve(job_id, FAILED, NO_VALUE, message, lease, attempt=attempt, trace=trace)
        check_id(job_id)
        own = lease is None
        if lease is None:
            lease = self._lease_for(job_id)
        elif lease.id != job_id:
            raise ValueError(f"lease is on job {lease.id!r}, not {job_id!r}")
        try:
            lease.name_lease.begin_commit()
            try:
                lease.name_lease.check(final=True)
                if (resolved := self.ctx.read_resolved(job_id)) is not None:
                    raise JobAlreadyResolved(job_id, resolved.state)
                record = lease.record.with_attempt(lease_attempt(lease, "retried", message, trace),
                                                   attempts=lease.record.attempts + attempt, error=message,
                                                   not_before=None, delay=delay or None)
                self.ctx.write_pending(record)
                lease.name_lease.committed = True
                # This puller knows when the retry is due: it is tried then, before the
                # backlog (the others' pullers find it when they list it).
                pending = self.ctx.index_of(job_id)
                pending.defer(job_id, delay or 0.0, fsio.identity(pending.path_of(job_id)))
                lease.release()
            finally:
                lease.name_lease.end_commit()
        except BaseException:
            if own:
                lease.release()
            raise
        return record.job()

    def discard(self, job_id: str, reason: str, *, lease: WorkLease) -> Job:
        """Resolve a job its worker found invalid as discarded (never retried)."""
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {type(reason).__name__}")
        self._check_size("reason", len(reason.encode("utf-8")))
        return self.resolve(job_id, DISCARDED, NO_VALUE, reason, lease)

    def expire(self, lease: Lease, record: Record) -> None:
        """Resolve the job just leased as expired: not started by its deadline (whoever reaches it)."""
        handle = WorkLease(self, lease, record)
        try:
            self.resolve(lease.name, EXPIRED, NO_VALUE, EXPIRED_TEXT, handle, attempt=False)
        except (JobAlreadyResolved, LeaseLost):
            handle.release()  # (cancelled or taken over meanwhile: theirs to say)

    def progress(self, lease: WorkLease, value: Any) -> None:
        """Rewrite the pending record with *value* as its progress, fenced (the commit
        lock, then the check) like every commit, but leaving the lease held."""
        encode_json(value, "progress", self.ctx.options.max_bytes)  # (TypeError, JobTooLarge: nothing written)
        name_lease = lease.name_lease
        name_lease.begin_commit()
        try:
            name_lease.check()
            record = lease.record.changed(progress=value)
            self.ctx.write_pending(record)
            lease.advanced(record)
        finally:
            name_lease.end_commit()

    def cancel(self, job_id: str) -> Job:
        return self.resolve(job_id, CANCELLED, NO_VALUE, "cancelled", None)

    def retry(self, job_id: str) -> Job:
        check_id(job_id)
        ctx = self.ctx
        lease = ctx.work_leases.acquire(job_id)
        if lease is None:
            raise JobBusy(job_id)
        # Holding the work lease keeps pullers (who would tidy a job found both
        # pending and resolved) away while both records exist.
        try:
            record, _ = ctx.read(job_id)  # (it reads "running": the lease is ours)
            if record.state not in RETRIABLE_STATES:
                raise JobStateError(f"job {job_id!r} is {record.state}; only {', '.join(RETRIABLE_STATES)} jobs can be "
                                    "retried")
            # (Retried, it is to run: a deadline that expired it, or any other, is over.)
            record = record.changed(state=PENDING, value=None, value_encoding=None, attempts=0, not_before=None,
                                    delay=None)
            ctx.write_pending(Record({k: v for k, v in record.fields.items() if not k.startswith("deadline")},
                                     record.request_json))
            fsio.remove(ctx.layout.resolved_path(job_id))
            fsio.remove(ctx.layout.due.join(job_id))
            if ctx.durable:
                ctx.layout.bucket(bucket_of(job_id)).sync()
        finally:
            lease.release()
        record, state = ctx.read(job_id)
        return ctx.job(record, state)

    def resolve(self, job_id: str, state: str, value: StoredValue, error: str | None,
                lease: WorkLease | None, *, attempt: bool = True, trace: str | None = None) -> Job:
        check_id(job_id)
        if lease is None:
            return self._resolve(job_id, state, value, error, None)
        if lease.id != job_id:
            raise ValueError(f"lease is on job {lease.id!r}, not {job_id!r}")
        name_lease = lease.name_lease
        if name_lease.committed and (winner := self.ctx.read_resolved(job_id)) is not None:
            # Resolved through this lease by a call that raised after its commit point
            # (a failed fsync): the same answer as for anyone else's second resolution.
            raise JobAlreadyResolved(job_id, winner.state)
        name_lease.begin_commit()
        try:
            return self._resolve(job_id, state, value, error, lease, name_lease, attempt=attempt, trace=trace)
        finally:
            name_lease.end_commit()

    def _resolve(self, job_id: str, state: str, value: StoredValue, error: str | None,
                 lease: WorkLease | None, name_lease: Lease | None = None, *, attempt: bool = True,
                 trace: str | None = None) -> Job:
        ctx = self.ctx
        entry = None
        if lease is not None and name_lease is not None:
            name_lease.check(final=True)
            record = lease.record
            if attempt:  # (giving up on a job whose attempts are used is not one)
                entry = lease_attempt(lease, state, error, trace)
        else:
            record, current = ctx.read(job_id)
            if current in RESOLVED_STATES:
                raise JobAlreadyResolved(job_id, current)
        attempts = record.attempts + (state == FAILED and attempt)
        resolved = record.resolved(state, value, error, attempts, entry)
        try:
            ctx.publish_resolved(job_id, resolved.render())
        except FileExistsError:
            winner = ctx.read_resolved(job_id)
            raise JobAlreadyResolved(job_id, winner.state if winner else "resolved") from None
        # (A publish that raised after its link, a failed folder fsync, leaves this
        # unset: a second commit then finds the name taken, JobAlreadyResolved.)
        if name_lease is not None:
            name_lease.committed = True
        # (a job made with after may have been resolved while blocked, by a cancel)
        due = ctx.finish_resolution(job_id, blocked=bool(record.get("after")))
        if lease is not None:
            lease.release()
        if due:
            self._on_due(job_id)
        return ctx.job(resolved) if due else resolved.job()

    def _lease_for(self, job_id: str) -> WorkLease:
        """Take the work lease on a job that nobody holds, for a commit made without one."""
        ctx = self.ctx
        lease = ctx.work_leases.acquire(job_id)
        if lease is None:
            _, state = ctx.read(job_id)  # JobNotFound and JobAlreadyResolved beat JobBusy
            if state in RESOLVED_STATES:
                raise JobAlreadyResolved(job_id, state)
            raise JobBusy(job_id)
        handle = claim_or_release(self._claim_as_is, lease)
        if handle is None:
            _, state = ctx.read(job_id)
            if state not in RESOLVED_STATES:  # (blocked: waiting for its parents, not yet tried)
                raise JobStateError(f"job {job_id!r} is {state}: it has no attempt to retry")
            raise JobAlreadyResolved(job_id, state)
        return handle

    def _claim_as_is(self, lease: Lease) -> WorkLease | None:
        record = self.read_for_claim(lease)
        return None if record is None else WorkLease(self, lease, record)

    def _check_size(self, what: str, size: int) -> None:
        limit = self.ctx.options.max_bytes
        if size > limit:
            raise JobTooLarge(f"{what} is {size} bytes, the store's limit is {limit}")


class _Puller:
    """One pull_work call: what it wants, and the resources it found busy."""

    def __init__(self, fulfilment: Fulfilment, wanted: frozenset[str | None] | None,
                 pauses: tuple[Pause, ...], address: str) -> None:
        self.fulfilment = fulfilment
        self.wanted = wanted
        self.address = address  # the address_name of the jobs it takes (ANYONE: jobs addressed to nobody)
        self.busy: set[str | None] = set()  # resources whose every slot is held
        self.full_tasks: set[str | None] = set()  # tasks whose every slot is held
        self.paused = frozenset([pause.task for pause in pauses]) if pauses else _NO_TASKS
        self.limits: tuple[Limit, ...] | None = None  # (read once a pull needs them)

    def skip(self, known: object) -> bool:
        task, resource = known if isinstance(known, tuple) else (None, None)
        return ((self.wanted is not None and task not in self.wanted) or resource in self.busy or task in self.paused
                or task in self.full_tasks)

    def claim(self, lease: Lease) -> WorkLease | None:
        """A WorkLease on the job, or None (the lease released) if it is gone,
        resolved, or not for this puller now (its task, delay or resource)."""
        fulfilment = self.fulfilment
        job_id = lease.name
        queue = queue_of(job_id) if "-" in job_id else None
        if (queue[0] if queue else ANYONE) != self.address:
            lease.release()  # (a take-over of another address's job: its own workers take it)
            return None
        record = fulfilment.read_for_claim(lease)
        if record is None:
            return None
        pending = fulfilment.ctx.pending if queue is None else fulfilment.ctx.index_of(job_id)
        if (record.get("deadline") or record.get("deadline_in")) and past_deadline(lease, record,
                                                                                     pending.path_of(job_id)):
            fulfilment.expire(lease, record)
            return None
        task, resource = record.get("task"), record.get("resource")
        if self.wanted is not None and task not in self.wanted:
            pending.note(job_id, (task, resource))
            lease.release()
            return None
        # Looked at after the lease is linked (a freeze pauses, then waits for the
        # leases to go): a pause made before this look is seen, one made after it
        # finds the lease.
        pauses = fulfilment.ctx.pauses.current()
        if stopping(pauses, task) is not None:
            if stops_all(pauses, self.wanted):
                raise PullPaused(task)
            pending.note(job_id, (task, resource))
            lease.release()
            return None
        if (record.fields.get("not_before") is not None or record.fields.get("delay")) and (
                wait := wait_seconds(lease, record, pending.path_of(job_id))) > 0:
            pending.defer(job_id, wait, fsio.identity(pending.path_of(job_id)))
            lease.release()
            return None
        slots = self.take_slots(task, resource)
        if slots is None:
            pending.note(job_id, (task, resource))
            lease.release()
            return None
        return fulfilment.start(lease, record, slots)

    def take_slots(self, task: str | None, resource: str | None) -> tuple[Lease, ...] | None:
        """A slot of the job's task (if it has a cap) and of its resource, or None (and
        the full one noted as busy for the rest of this pull) if one is full."""
        if resource is None and task is None:
            return ()
        if self.limits is None:
            self.limits = self.fulfilment.ctx.limits.current()
        taken: list[Lease] = []
        for kind, name, full in (("task", task, self.full_tasks), ("resource", resource, self.busy)):
            names = [] if name is None else slot_names(self.limits, kind, name)
            if not names:
                continue
            slot = take_slot(self.fulfilment.ctx.resource_leases, names)
            if slot is None:
                full.add(name)
                for held in taken:
                    held.release()
                return None
            taken.append(slot)
        return tuple(taken)


def _error_text(error: str | BaseException) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    if not isinstance(error, str):
        raise TypeError(f"error must be a str or an exception, not {type(error).__name__}")
    return error
