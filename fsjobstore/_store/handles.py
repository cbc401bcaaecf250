"""What a pull hands out: a WorkLease on a job to do, a NotificationLease on results
to deliver. Each wraps a lease on the job's name and commits through the workflow
that made it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .._files.records import Record
from .._files.times import now_text
from .._leases import Lease
from ..errors import Loss
from ..job import RUNNING, Job


class WorkCommits(Protocol):
    """The fulfilment workflow, as a WorkLease commits through it."""

    def fulfill(self, job_id: str, value: Any, *, lease: WorkLease | None = None) -> Job: ...

    def progress(self, lease: WorkLease, value: Any) -> None: ...

    def fail(self, job_id: str, error: str | BaseException, *, lease: WorkLease | None = None,
             retry: bool = False, delay: float | None = None, attempt: bool = True,
             trace: str | None = None) -> Job: ...

    def discard(self, job_id: str, reason: str, *, lease: WorkLease) -> Job: ...


class _LeaseHandle:
    """An exclusive lease on one job, renewed in the background until released."""

    def __init__(self, lease: Lease, record: Record) -> None:
        self._lease = lease
        self._record = record

    @property
    def id(self) -> str:
        return self._lease.name

    @property
    def name_lease(self) -> Lease:
        """The lease on the job's name underneath (read-only: for the store and tests)."""
        return self._lease

    @property
    def record(self) -> Record:
        """The job's record as it was when the lease was taken (read-only)."""
        return self._record

    @property
    def compromised(self) -> bool:
        """True once the lease is known lost; no commit through it can succeed then."""
        return self._lease.compromised

    @property
    def loss(self) -> Loss | None:
        """Why the lease was lost, once it is."""
        return self._lease.loss

    @property
    def released(self) -> bool:
        return self._lease.released

    def watch(self, on_compromised: Callable[[Any], None] | None) -> None:
        """Call ``on_compromised(self)`` once if the lease is lost."""
        if on_compromised is not None:
            self._lease.watch(lambda _lease: on_compromised(self))

    def release(self) -> None:
        """Give the lease up without committing anything. Always safe, never raises."""
        self._lease.release()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        status = "released" if self.released else "compromised" if self.compromised else "held"
        return f"<{type(self).__name__} {self.id} {status}>"


class WorkLease(_LeaseHandle):
    """The exclusive right to do one job: commit with fulfill() or fail().

    While held, no other pull_work (in any process or host sharing the store)
    returns this job. Every commit first checks on disk that the lease is still
    ours, and raises LeaseLost (changing nothing) if it is not. Leaving the
    ``with`` block, or release(), gives the job back to pending if not committed.
    If the job is cancelled while held, the lease is compromised at its next
    renewal (``on_compromised`` tells the worker).
    """

    def __init__(self, commits: WorkCommits, lease: Lease, record: Record, slots: tuple[Lease, ...] = ()) -> None:
        super().__init__(lease, record)
        self._commits = commits
        self._slots = slots
        self.started_at = now_text()  # (for the attempt history: informational, this host's clock)

    @property
    def slot_leases(self) -> tuple[Lease, ...]:
        """The slot leases of the job's resource and task limits (read-only)."""
        return self._slots

    def release(self) -> None:
        self._lease.release()
        for slot in self._slots:
            slot.release()

    @property
    def request(self) -> Any:
        return self._record.fields["request"]

    @property
    def job(self) -> Job:
        return self._record.job(state=RUNNING)

    @property
    def attempts(self) -> int:
        return self._record.attempts

    def carry(self, **fields: Any) -> None:
        """Fields the next commit through this lease writes into the record with it
        (a workspace's result folder: published with the result, or not at all)."""
        self._record = self._record.changed(**fields)

    def fulfill(self, value: Any) -> Job:
        return self._commits.fulfill(self.id, value, lease=self)

    def progress(self, value: Any) -> None:
        self._commits.progress(self, value)

    def advanced(self, record: Record) -> None:
        """The job's record as the store rewrote it under this lease (its progress):
        what later commits through it start from."""
        self._record = record

    def fail(self, error: str | BaseException, *, retry: bool = False, delay: float | None = None,
             attempt: bool = True, trace: str | None = None) -> Job:
        return self._commits.fail(self.id, error, lease=self, retry=retry, delay=delay, attempt=attempt,
                                  trace=trace)

    def discard(self, reason: str) -> Job:
        """Resolve the job as ``discarded``: invalid, never to be retried (*reason* is its error)."""
        return self._commits.discard(self.id, reason, lease=self)


class NotificationLease(_LeaseHandle):
    """The exclusive right to deliver one resolved job's result to its waiting targets."""

    def __init__(self, on_done: Callable[[NotificationLease, list[Any], list[tuple[Any, str]], int | None,
                                          float | None], None],
                 lease: Lease, record: Record, waiting: list[tuple[str, dict[str, Any]]]) -> None:
        super().__init__(lease, record)
        self._on_done = on_done
        self._waiting = waiting

    @property
    def job(self) -> Job:
        return self._record.job(waiting=tuple(self.waiting))

    @property
    def value(self) -> bytes | None:
        """The fulfilment value (None for a failed job: see ``job.error``)."""
        return self.job.value

    @property
    def waiting(self) -> list[Any]:
        """The targets waiting when the lease was taken, oldest first."""
        return [fields["target"] for _, fields in self._waiting]

    @property
    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, fields of its file) of each waiting target, as ``waiting`` (read-only)."""
        return self._waiting

    def done(self, delivered: Iterable[Any], *, failed: Iterable[tuple[Any, str]] = (),
             give_up_after: int | None = None, retry_in: float | None = None) -> None:
        """Remove exactly the *delivered* targets and release the lease.

        Each ``(target, error)`` in *failed* has its failure counted in its file
        (with the error and the time); one whose failures reach *give_up_after*
        is given up: no longer waiting, kept for ``show`` with its last error.
        Other targets stay due and are handed out again (by this store object not
        before *retry_in* seconds, if given). Raises LeaseLost (changing nothing)
        if the lease was lost.
        """
        self._on_done(self, list(delivered), list(failed), give_up_after, retry_in)
