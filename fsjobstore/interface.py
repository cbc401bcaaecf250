"""The one seam every job store implements, and everything above the store depends on.

``JobStore`` (a folder on this host) implements :class:`Store`; so does any other
kind of store (a remote client, an in-memory fake in the tests). ``Worker``,
``Notifier`` and the command line use nothing of a store but what is declared
here, so they run unchanged over any of them.

Guarantees every implementation keeps (the contract tests in
``tests/contract/`` check them against each):

* A job is resolved at most once: a second ``fulfill``/``fail``/``cancel``
  raises ``JobAlreadyResolved`` and changes nothing.
* While a work lease is held, no other ``pull_work`` returns its job; a lease
  whose holder stops renewing expires and its job is handed out again.
* A commit through a lost lease raises ``LeaseLost`` and changes nothing; the
  holder is told once through ``on_compromised``.
* A waiting target is handed out by ``pull_notification`` until ``done`` names
  it as delivered.
* A pull hands out no job a pause stops once the pause is ``PAUSE_SEEN_WITHIN``
  old, and looks at the pauses after it has taken its lease (what ``freeze``
  rests on).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidJobId, Loss, LossReason
from .job import STATES, Job
from .views import Holding, Limit, Pause, Problem, Progress, Report, WorkerInfo, describe_pauses, stopping

__all__ = [
    "Holding",
    "LeaseHandle",
    "Limit",
    "Loss",
    "LossReason",
    "NotificationHandle",
    "PAUSE_SEEN_WITHIN",
    "Pause",
    "Problem",
    "Progress",
    "Report",
    "Store",
    "WakeSignal",
    "WorkerInfo",
    "Heartbeat",
    "TickMaker",
    "WorkspaceKeeper",
    "WorkHandle",
    "check_listing",
    "describe_pauses",
    "stopping",
]

# Every puller of every store sees a pause (or a resume) made elsewhere within this
# many seconds of its own clock (plus, on NFS, the attribute cache time): a freeze
# waits this long twice over before it trusts that no lease will be taken any more.
PAUSE_SEEN_WITHIN = 1.0


@runtime_checkable
class WakeSignal(Protocol):
    """What an idle loop waits on: set when something may have changed."""

    def set(self) -> None: ...

    def clear(self) -> None:
        """Called before rescanning, so a change during the scan still wakes the next wait."""

    def wait(self, timeout: float) -> bool:
        """Wait up to about *timeout* seconds; True if woken by a change."""


@runtime_checkable
class LeaseHandle(Protocol):
    """An exclusive lease on one job, renewed in the background until released."""

    @property
    def id(self) -> str: ...

    @property
    def job(self) -> Job: ...

    @property
    def compromised(self) -> bool:
        """True once the lease is known lost; no commit through it can succeed then."""

    @property
    def loss(self) -> Loss | None:
        """Why the lease was lost (None while it is held or after a plain release)."""

    @property
    def released(self) -> bool: ...

    def release(self) -> None:
        """Give the lease up without committing anything. Always safe, never raises."""

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: object) -> None: ...


@runtime_checkable
class WorkHandle(LeaseHandle, Protocol):
    """The exclusive right to do one job: commit with fulfill() or fail()."""

    @property
    def request(self) -> Any: ...

    @property
    def attempts(self) -> int: ...

    def fulfill(self, value: Any) -> Job: ...

    def progress(self, value: Any) -> None:
        """Keep *value* (any JSON) in the job as its progress, fenced like a commit
        (LeaseLost if the lease is lost, nothing changed): ``get`` shows it, and
        the job's next attempt, after a crash or a lost lease, starts with it
        (``job.progress``). Not a commit: the lease stays held."""

    def fail(self, error: str | BaseException, *, retry: bool = False, delay: float | None = None,
             attempt: bool = True, trace: str | None = None) -> Job:
        """A failed attempt: back to pending after *delay* if *retry*, else resolved
        as failed. ``attempt=False`` does not count it (giving up on a job whose
        attempts are used: this commit is not an attempt of its own). *trace* (a
        traceback, say) is kept with the attempt in the job's history."""

    def discard(self, reason: str) -> Job:
        """Resolve the job as ``discarded`` (invalid: never retried), *reason* its error."""


@runtime_checkable
class NotificationHandle(LeaseHandle, Protocol):
    """The exclusive right to deliver one resolved job's result to its waiting targets."""

    @property
    def value(self) -> bytes | None: ...

    @property
    def waiting(self) -> list[Any]: ...

    def done(self, delivered: Iterable[Any], *, failed: Iterable[tuple[Any, str]] = (),
             give_up_after: int | None = None, retry_in: float | None = None) -> None:
        """Remove the *delivered* targets; count a failure (with its error) for each
        ``(target, error)`` in *failed*, giving up a target whose failures reach
        *give_up_after*; the rest stay due (not before *retry_in* seconds here)."""


@runtime_checkable
class Heartbeat(Protocol):
    """A running loop's record in its store (``Store.register_worker``)."""

    def beat(self, current: list[str], paused: str | None = None) -> list[Pause]:
        """Say the loop is alive, holds *current* now, and what of its work is
        *paused* (``describe_pauses``). Returns the pauses in force (``Store.pauses``),
        so that a loop watches them with no request of its own (over HTTP, a beat
        is one round trip)."""

    def close(self) -> None:
        """Remove the record (the loop stopped)."""


@runtime_checkable
class TickMaker(Protocol):
    """What a Scheduler runs: a store's schedules (``JobStore.schedules``). Not part of
    Store: schedules live in the store's folder, so only a local store has them."""

    def make_due_ticks(self) -> float | None:
        """Make every due tick once; seconds until the next one (None: no schedule)."""


@runtime_checkable
class WorkspaceKeeper(Protocol):
    """What a Worker uses of a store's job workspaces (``JobStore.workspaces``): a
    folder per attempt, and a commit that names it the result. Local stores only."""

    def attempt(self, lease: Any) -> str:
        """A new, empty folder for this attempt at the lease's job."""

    def fulfill(self, lease: Any, value: Any, folder: str) -> Job:
        """Fulfil through *lease*, with *folder* (from ``attempt``) as the result."""


@runtime_checkable
class Store(Protocol):
    """A job store: the operations of the three workflows (creation, fulfilment,
    notification), queries and maintenance. ``JobStore`` is the reference."""

    @property
    def location(self) -> str:
        """Where the store is (a folder, a URL): for messages and child processes."""

    @property
    def poll_interval(self) -> float:
        """How often an idle loop looks again for changes its wake signal may miss."""

    # -- creation
    def create(
        self,
        request: Any,
        *,
        task: str | None = None,
        resource: str | None = None,
        not_before: datetime | timedelta | float | None = None,
        expires_in: float | None = None,
        lease_seconds: float | None = None,
        key: str | None = None,
        on_conflict: str = "return",
        labels: Mapping[str, str] | None = None,
        priority: int = 0,
        deadline: datetime | timedelta | float | None = None,
        after: Sequence[str] | None = None,
        on_parent_failure: str = "cancel",
    ) -> Job: ...

    def create_many(
        self,
        requests: Iterable[Any],
        *,
        task: str | None = None,
        resource: str | None = None,
        not_before: datetime | timedelta | float | None = None,
        expires_in: float | None = None,
        lease_seconds: float | None = None,
        on_conflict: str = "return",
        labels: Mapping[str, str] | None = None,
        priority: int = 0,
        deadline: datetime | timedelta | float | None = None,
        progress: Progress | None = None,
    ) -> list[Job]:
        """A job for each item of *requests* (a request, or a ``JobSpec``: a request
        with options of its own over these), in order, as ``create`` makes each;
        every item checked before any is written (bad input: the error names the
        item, nothing written; two items with one key: ValueError). Each job is
        visible whole or not at all."""

    # -- queries
    def get(self, job_id: str) -> Job: ...

    def jobs(self, state: str | None = None, *, task: str | None = None, labels: Mapping[str, str] | None = None,
             after: str | None = None, limit: int | None = None, newest_first: bool = False) -> Iterator[Job]:
        """Jobs in id order (creation order; *newest_first* reverses it), only those in
        *state*, of *task* and with all *labels* if given, after the id *after* in that
        order (a page's cursor: the last id of the page before), at most *limit*; each
        at most once, in one of its states. ValueError for an unknown state or a
        negative limit, InvalidJobId for a bad *after*."""

    def dependants(self, job_id: str) -> list[str]:
        """The ids of the jobs made to wait for this one (``create(after=...)``), oldest
        first; ``[]`` if none (or no such job). A dependant purged since may still be
        named until this job is purged too (``get`` then raises JobNotFound).
        InvalidJobId for a malformed id."""

    def stats(self) -> dict[str, int]: ...

    def stats_by_task(self) -> dict[str, dict[str, int]]:
        """Jobs per task (``""``: jobs without one) and state (every state of ``stats``
        but ``due``), only tasks that have jobs; they add up to ``stats``."""

    def wait(self, job_id: str, timeout: float | None = None) -> Job: ...

    # -- fulfilment
    def pull_work(
        self,
        on_compromised: Callable[[Any], None] | None = None,
        *,
        tasks: Collection[str | None] | None = None,
        to: str | None = None,
    ) -> WorkHandle | None: ...

    def fulfill(self, job_id: str, value: Any) -> Job: ...

    def fail(self, job_id: str, error: str | BaseException, *, retry: bool = False,
             delay: float | None = None) -> Job: ...

    def cancel(self, job_id: str) -> Job: ...

    def retry(self, job_id: str) -> Job: ...

    def work_signal(self) -> WakeSignal:
        """A signal set when work may have become available (for loops)."""

    def next_work_due(self) -> float | None:
        """Seconds until a job this store object passed over (a retry's delay) may be
        taken; None if it passed none over. A loop sleeps no longer than this."""

    # -- notification
    def queue(self, job_id: str, target: Any) -> None: ...

    def unqueue(self, job_id: str, target: Any) -> None: ...

    def unqueue_all(self, job_id: str, targets: Any) -> None: ...

    def pull_notification(
        self, on_compromised: Callable[[Any], None] | None = None
    ) -> NotificationHandle | None: ...

    def notification_signal(self) -> WakeSignal:
        """A signal set when a notification may have become due (for loops)."""

    def next_notification_due(self) -> float | None:
        """As ``next_work_due``, for notifications passed over (``done(retry_in=...)``)."""

    def stop_signal(self, signal: WakeSignal) -> None:
        """Stop setting *signal* (a loop is done with it)."""

    # -- operators
    def register_worker(self, kind: str, tasks: Collection[str | None] | None, concurrency: int) -> Heartbeat:
        """A heartbeat record for a loop of *kind* starting now (beat it every
        ``Heartbeat.beat_seconds``)."""

    def workers(self, *, watch: float = 0.0) -> list[WorkerInfo]:
        """The loops with a record, alive or not. With *watch* seconds, wait that long
        (at most) to judge loops on other hosts by whether their record changes."""

    # -- pauses
    def pause(self, task: str | None = None, *, reason: str | None = None) -> Pause:
        """Stop every puller of the store, on every host, from taking jobs of *task*
        (None: any job, and any notification) until ``resume``. Running jobs go on."""

    def resume(self, task: str | None = None) -> bool:
        """End the pause of *task* (None: of the whole store); False if there was none."""

    def pauses(self) -> list[Pause]:
        """The pauses in force, the whole store's first."""

    def holdings(self) -> list[Holding]:
        """The work and notification leases held now, and who holds them."""

    # -- limits
    def set_limit(self, limit: int | None, *, resource: str | None = None, task: str | None = None) -> None:
        """Let at most *limit* jobs of *resource* (or of *task*: give one of the two)
        run at once, on every host together; None: back to the default (one per
        resource, no cap for a task). Jobs running already are not stopped."""

    def limits(self) -> list[Limit]:
        """The limits set, resources' first."""

    # -- maintenance
    def purge(self, older_than: float | None = None, *, progress: Progress | None = None) -> int: ...

    def delete(self, job_id: str) -> Job:
        """Remove a resolved job now with its waiting targets; the job as it was.
        JobStateError for a pending or running job: cancel it first."""

    def check(self, *, repair: bool = False, progress: Progress | None = None) -> Report: ...

    def close(self) -> None: ...


# A page's cursor: any well-formed id (the rule of _files.ids, which this layer does not
# import), not only the ids a store makes: `import` keeps a job's own id, and a page
# that ends on such a job must still lead to the next.
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,128}")


def check_listing(state: str | None, task: str | None, after: str | None, limit: int | None) -> None:
    """ValueError (TypeError for a wrong type, InvalidJobId for a cursor that is not
    a job id) naming what is wrong with the arguments of a listing, ``Store.jobs``:
    one wording for every store."""
    if state is not None and state not in STATES:
        raise ValueError(f"unknown state {state!r}; the states are {', '.join(STATES)}")
    for name, text in (("task", task), ("after", after)):
        if text is not None and not isinstance(text, str):
            raise TypeError(f"{name} must be a string, not {text!r}")
    if after is not None and not _CURSOR.fullmatch(after):
        raise InvalidJobId(f"after {after!r:.80} is not a job id (letters, digits, '-' and '_'): "
                           "give the last id of the page before")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a whole number of jobs, 0 or more, not {limit!r}")
