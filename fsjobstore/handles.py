"""What a pull hands out: a WorkLease on a job to do, a NotificationLease on results to deliver."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .job import Job, Record
from .lease import Held

if TYPE_CHECKING:
    from .store import JobStore


class _Lease:
    """An exclusive lease on one job, renewed in the background until released."""

    def __init__(self, store: JobStore, held: Held, record: Record) -> None:
        self._store = store
        self._held = held
        self._record = record

    @property
    def id(self) -> str:
        return self._held.name

    @property
    def compromised(self) -> bool:
        """True once the lease is known lost; no commit through it can succeed then."""
        return self._held.compromised

    @property
    def released(self) -> bool:
        return self._held.released

    def _watch(self, on_compromised: Callable[[Any], None] | None) -> None:
        if on_compromised is not None:
            self._held.watch(lambda _held: on_compromised(self))

    def release(self) -> None:
        """Give the lease up without committing anything. Always safe, never raises."""
        self._held.release()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        status = "released" if self.released else "compromised" if self.compromised else "held"
        return f"<{type(self).__name__} {self.id} {status}>"


class WorkLease(_Lease):
    """The exclusive right to do one job: commit with fulfill() or fail().

    While held, no other pull_work (in any process or host sharing the store)
    returns this job. Every commit first checks on disk that the lease is still
    ours, and raises LeaseLost (changing nothing) if it is not. Leaving the
    ``with`` block, or release(), gives the job back to pending if not committed.
    If the job is cancelled while held, the lease is compromised at its next
    renewal (``on_compromised`` tells the worker).
    """

    def __init__(self, store: JobStore, held: Held, record: Record, resource: Held | None = None) -> None:
        super().__init__(store, held, record)
        self._resource = resource

    def release(self) -> None:
        self._held.release()
        if self._resource is not None:
            self._resource.release()

    @property
    def request(self) -> Any:
        return self._record.fields["request"]

    @property
    def job(self) -> Job:
        return self._record.job(state="running")

    @property
    def attempts(self) -> int:
        return self._record.attempts

    def fulfill(self, value: bytes | str) -> Job:
        return self._store.fulfill(self.id, value, lease=self)

    def fail(self, error: str | BaseException, *, retry: bool = False, delay: float | None = None) -> Job:
        return self._store.fail(self.id, error, lease=self, retry=retry, delay=delay)


class NotificationLease(_Lease):
    """The exclusive right to deliver one resolved job's result to its waiting targets."""

    def __init__(self, store: JobStore, held: Held, record: Record, waiting: list[tuple[str, Any]]) -> None:
        super().__init__(store, held, record)
        self._waiting = waiting

    @property
    def job(self) -> Job:
        return self._record.job(waiting=tuple(target for _, target in self._waiting))

    @property
    def value(self) -> bytes | None:
        """The fulfilment value (None for a failed job: see ``job.error``)."""
        return self.job.value

    @property
    def waiting(self) -> list[Any]:
        """The targets waiting when the lease was taken, oldest first."""
        return [target for _, target in self._waiting]

    def done(self, delivered: Iterable[Any], *, retry_in: float | None = None) -> None:
        """Remove exactly the *delivered* targets and release the lease.

        Targets not in *delivered* stay due and are handed out again (by this
        store object not before *retry_in* seconds, if given). Raises LeaseLost
        (removing nothing) if the lease was lost.
        """
        self._store._notified(self, list(delivered), retry_in)
