"""An in-memory store that implements fsjobstore.interface.Store: the proof that the
seam is real (Worker and Notifier run over it unchanged), and a second
implementation for the contract suite to hold to the same rules.

One ``MemoryBackend`` is the shared store; each ``MemoryStore`` on it is one client
(as one process is, for a folder), with its own leases, renewed by its own thread.
Not a product: no persistence, one process.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fsjobstore import DuplicateJob, Job, JobAlreadyResolved, JobBusy, JobNotFound, JobStateError, LeaseLost
from fsjobstore._arguments import check_limit, check_name
from fsjobstore.errors import InvalidJobId, Loss, LossReason, UnknownParent
from fsjobstore.interface import Holding, Limit, Pause, Progress, Report, WorkerInfo, check_listing, stopping
from fsjobstore.job import ON_PARENT_FAILURE, RETRIABLE_STATES, STATES, json_value_bytes
from fsjobstore.specs import batch, named

_ids = itertools.count(1)


@dataclass
class _Holding:
    owner: MemoryStore
    token: int
    renewed: float
    seconds: float


@dataclass
class _Record:
    job: Job
    waiting: list[Any] = field(default_factory=list)
    not_before: float = 0.0  # monotonic
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)  # canonical target -> failed delivery


def _at(when: datetime | timedelta | float | None) -> float | None:
    """A deadline given as create() takes it, as seconds since the epoch."""
    if when is None or isinstance(when, datetime):
        if when is not None and when.tzinfo is None:
            raise ValueError("a deadline must be a timezone-aware datetime")
        return None if when is None else when.timestamp()
    seconds = when.total_seconds() if isinstance(when, timedelta) else when
    if not seconds > 0:
        raise ValueError(f"deadline must be a positive number of seconds, not {seconds!r}")
    return time.time() + seconds


class _MemoryHeartbeat:
    beat_seconds = 0.2

    def __init__(self, backend: MemoryBackend, info: WorkerInfo) -> None:
        self._backend = backend
        self.info = info
        self.last = time.monotonic()
        with backend.lock:
            backend.workers[info.id] = self

    def beat(self, current: list[str], paused: str | None = None) -> list[Pause]:
        with self._backend.lock:
            self.info = replace(self.info, current=sorted(current), beats=self.info.beats + 1, paused=paused)
            self.last = time.monotonic()
            return self._backend.pauses_in_force()

    def close(self) -> None:
        with self._backend.lock:
            self._backend.workers.pop(self.info.id, None)


class MemoryBackend:
    def __init__(self) -> None:
        self.workers: dict[str, _MemoryHeartbeat] = {}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.records: dict[str, _Record] = {}
        self.work: dict[str, _Holding] = {}
        self.notes: dict[str, _Holding] = {}
        self.keys: dict[str, str] = {}  # key -> id of the job that has it
        self.pauses: dict[str | None, Pause] = {}
        self.limits: dict[tuple[str, str], int] = {}

    def pauses_in_force(self) -> list[Pause]:
        """The whole store's pause first, then the tasks' by name."""
        with self.lock:
            return sorted(self.pauses.values(), key=lambda p: (p.task is not None, p.task or ""))

    def full(self, job: Job) -> bool:
        """Whether the job's resource or task has as many jobs running as its limit allows."""
        now = time.monotonic()
        running = [self.records[i].job for i, h in self.work.items() if now - h.renewed < h.seconds]
        for kind, name in (("resource", job.resource), ("task", job.task)):
            limit = self.limits.get((kind, name or ""), 1 if kind == "resource" else None)
            if name is not None and limit is not None and sum(getattr(j, kind) == name for j in running) >= limit:
                return True
        return False


class _Signal:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


class _Handle:
    def __init__(self, store: MemoryStore, table: dict[str, _Holding], job_id: str, holding: _Holding) -> None:
        self._store = store
        self._table = table
        self.id = job_id
        self._holding = holding
        self.loss: Loss | None = None
        self.released = False
        self._callback: Callable[[Any], None] | None = None

    @property
    def compromised(self) -> bool:
        return self.loss is not None

    @property
    def job(self) -> Job:
        return self._store.get(self.id)

    def watch(self, callback: Callable[[Any], None] | None) -> None:
        self._callback = callback

    def lose(self, reason: LossReason) -> None:
        if self.loss is None:
            self.loss = Loss(reason)
            callback, self._callback = self._callback, None
            if callback is not None:
                callback(self)

    def fence(self) -> None:
        """LeaseLost unless the lease is still ours (called under the backend lock)."""
        if self.released:
            raise LeaseLost(f"lease on {self.id!r} was already released")
        if self._table.get(self.id) is not self._holding:
            self.lose(LossReason.TAKEN_OVER)
        if self.loss is not None:
            raise LeaseLost(f"lease on {self.id!r} was lost: {self.loss}")

    def release(self) -> None:
        with self._store.backend.lock:
            if not self.released:
                self.released = True
                if self._table.get(self.id) is self._holding:
                    del self._table[self.id]
                self._store.held.discard(self)
                self._store.backend.changed.notify_all()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class MemoryWorkLease(_Handle):
    @property
    def request(self) -> Any:
        return self.job.request

    @property
    def attempts(self) -> int:
        return self.job.attempts

    def fulfill(self, value: Any) -> Job:
        return self._store.commit(self, "fulfilled", **_value_fields(value))

    def progress(self, value: Any) -> None:
        json.dumps(value)
        with self._store.backend.lock:
            self.fence()
            record = self._store.backend.records[self.id]
            record.job = replace(record.job, progress=value)

    def fail(self, error: str | BaseException, *, retry: bool = False, delay: float | None = None,
             attempt: bool = True, trace: str | None = None) -> Job:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        state = "pending" if retry else "failed"
        return self._store.commit(self, state, error=text, delay=delay or 0.0, attempt=attempt)

    def discard(self, reason: str) -> Job:
        return self._store.commit(self, "discarded", error=reason)


class MemoryNotificationLease(_Handle):
    def __init__(self, *args: Any, waiting: list[Any]) -> None:
        super().__init__(*args)
        self._waiting = waiting

    @property
    def value(self) -> bytes | None:
        return self.job.value

    @property
    def waiting(self) -> list[Any]:
        return list(self._waiting)

    def done(self, delivered: Iterable[Any], *, failed: Iterable[tuple[Any, str]] = (),
             give_up_after: int | None = None, retry_in: float | None = None) -> None:
        store = self._store
        failed = list(failed)
        if give_up_after is not None and (isinstance(give_up_after, bool) or give_up_after < 1):
            raise ValueError(f"give_up_after must be a positive integer, not {give_up_after!r}")
        if any(not isinstance(error, str) for _, error in failed):
            raise TypeError("a failed delivery's error must be a str")
        with store.backend.lock:
            self.fence()
            record = store.backend.records[self.id]
            gone = [json.dumps(t, sort_keys=True) for t in delivered]
            for key in gone:
                record.failures.pop(key, None)
            for target, error in failed:
                key = json.dumps(target, sort_keys=True)
                if target not in record.waiting:
                    continue
                count = record.failures.get(key, {}).get("failures", 0) + 1
                given_up = give_up_after is not None and count >= give_up_after
                record.failures[key] = {"target": target, "failures": count, "last_error": error,
                                        "last_failed_at": datetime.now(UTC).isoformat(), "given_up": given_up}
                if given_up:
                    gone.append(key)
            record.waiting = [t for t in record.waiting if json.dumps(t, sort_keys=True) not in gone]
            if retry_in is not None:
                store.deferred[self.id] = time.monotonic() + retry_in
        self.release()


class MemoryStore:
    """One client of a MemoryBackend."""

    def __init__(self, backend: MemoryBackend, *, lease_seconds: float = 2.0, poll_interval: float = 0.05) -> None:
        self.backend = backend
        self.lease_seconds = lease_seconds
        self._poll_interval = poll_interval
        self.held: set[_Handle] = set()
        self.deferred: dict[str, float] = {}  # job id -> monotonic time it may be tried again
        self.signals: list[_Signal] = []
        self.silenced = False
        self._closed = threading.Event()
        threading.Thread(target=self._renew_loop, daemon=True).start()

    @property
    def location(self) -> str:
        return f"memory:{id(self.backend):x}"

    @property
    def poll_interval(self) -> float:
        return self._poll_interval

    # -- leases ---------------------------------------------------------------------

    def _renew_loop(self) -> None:
        while not self._closed.wait(self.lease_seconds / 3):
            if self.silenced:
                continue
            with self.backend.lock:
                for handle in list(self.held):
                    record = self.backend.records.get(handle.id)
                    if handle._table.get(handle.id) is not handle._holding:
                        handle.lose(LossReason.TAKEN_OVER)
                    elif isinstance(handle, MemoryWorkLease) and (record is None or record.job.resolved):
                        handle.lose(LossReason.RESOLVED_ELSEWHERE)
                    else:
                        handle._holding.renewed = time.monotonic()

    def _take(self, table: dict[str, _Holding], job_id: str) -> tuple[_Holding, bool] | None:
        """A holding of *job_id* for this client, and whether it was taken over."""
        current = table.get(job_id)
        now = time.monotonic()
        if current is not None and now - current.renewed < current.seconds:
            return None
        holding = table[job_id] = _Holding(self, next(_ids), now, self.lease_seconds)
        return holding, current is not None

    def _ready(self, job_id: str) -> bool:
        return self.deferred.get(job_id, 0.0) <= time.monotonic()

    def pull_work(self, on_compromised: Callable[[Any], None] | None = None, *,
                  tasks: Collection[str | None] | None = None, to: str | None = None) -> MemoryWorkLease | None:
        with self.backend.lock:
            # the highest priority first, the oldest first within one
            for job_id, record in sorted(self.backend.records.items(), key=lambda kv: (-kv[1].job.priority, kv[0])):
                job = record.job
                if job.resolved or job.state == "blocked" or not self._ready(job_id):
                    continue
                held = self.backend.work.get(job_id)
                if (job.deadline is not None and job.attempts == 0 and job.deadline.timestamp() <= time.time()
                        and (held is None or time.monotonic() - held.renewed >= held.seconds)):
                    record.job = replace(job, state="expired", error="expired: not started by its deadline")
                    self._settle_dependants()
                    continue  # (whatever its task or address: whoever reaches it first)
                if (tasks is not None and job.task not in tasks) or job.labels.get("to") != to:
                    continue
                if stopping(self.backend.pauses.values(), job.task) is not None or self.backend.full(job):
                    continue
                if record.not_before > time.monotonic():
                    self.deferred[job_id] = record.not_before
                    continue
                taken = self._take(self.backend.work, job_id)
                if taken is None:
                    continue
                if taken[1]:
                    record.job = replace(job, attempts=job.attempts + 1, error="lease expired")
                lease = MemoryWorkLease(self, self.backend.work, job_id, taken[0])
                lease.watch(on_compromised)
                self.held.add(lease)
                return lease
        return None

    def pull_notification(self, on_compromised: Callable[[Any], None] | None = None
                          ) -> MemoryNotificationLease | None:
        with self.backend.lock:
            if None in self.backend.pauses:
                return None
            for job_id, record in sorted(self.backend.records.items()):
                if not record.job.resolved or not record.waiting or not self._ready(job_id):
                    continue
                taken = self._take(self.backend.notes, job_id)
                if taken is None:
                    continue
                note = MemoryNotificationLease(self, self.backend.notes, job_id, taken[0], waiting=record.waiting)
                note.watch(on_compromised)
                self.held.add(note)
                return note
        return None

    def commit(self, lease: MemoryWorkLease, state: str, *, value: bytes | None = None,
               value_encoding: str | None = None, error: str | None = None,
               delay: float = 0.0, attempt: bool = True) -> Job:
        with self.backend.lock:
            lease.fence()
            record = self.backend.records[lease.id]
            if record.job.resolved:
                raise JobAlreadyResolved(lease.id, record.job.state)
            job = record.job
            attempts = job.attempts + (state in ("failed", "pending") and attempt)
            record.job = replace(job, state=state, value=value, value_encoding=value_encoding, error=error,
                                 attempts=attempts,
                                 updated_at=datetime.now(UTC))
            record.not_before = time.monotonic() + delay
            self._settle_dependants()
        lease.release()
        return self.get(lease.id)

    # -- the rest of the interface ------------------------------------------------------

    def create(self, request: Any, *, task: str | None = None, resource: str | None = None,
               not_before: datetime | timedelta | float | None = None, expires_in: float | None = None,
               lease_seconds: float | None = None, key: str | None = None, on_conflict: str = "return",
               labels: Mapping[str, str] | None = None, priority: int = 0,
               deadline: datetime | timedelta | float | None = None, after: Sequence[str] | None = None,
               on_parent_failure: str = "cancel") -> Job:
        return self._add(*self._prepare(request, task=task, resource=resource, not_before=not_before, key=key,
                                        on_conflict=on_conflict, labels=labels, priority=priority,
                                        deadline=deadline, after=after, on_parent_failure=on_parent_failure))

    def create_many(self, requests: Iterable[Any], *, task: str | None = None, resource: str | None = None,
                    not_before: datetime | timedelta | float | None = None, expires_in: float | None = None,
                    lease_seconds: float | None = None, on_conflict: str = "return",
                    labels: Mapping[str, str] | None = None, priority: int = 0,
                    deadline: datetime | timedelta | float | None = None,
                    progress: Progress | None = None) -> list[Job]:
        items = batch(requests, {"task": task, "resource": resource, "not_before": not_before,
                                 "expires_in": expires_in, "lease_seconds": lease_seconds,
                                 "on_conflict": on_conflict, "labels": labels, "priority": priority,
                                 "deadline": deadline})
        prepared = []
        for index, (request, options) in enumerate(items):
            ignored = ("expires_in", "lease_seconds")  # (no purge, one lease length here)
            try:
                prepared.append(self._prepare(request, **{k: v for k, v in options.items() if k not in ignored}))
            except (TypeError, ValueError) as exc:
                raise named(index, exc) from exc
        with self.backend.lock:  # (all at once: the check of the keys holds for the whole batch)
            for job, _, conflict in prepared:
                holder = self.backend.keys.get(job.key) if job.key is not None else None
                if holder is not None and conflict == "raise":
                    raise DuplicateJob(job.key, holder)
            made = [self._add(*one) for one in prepared]
        if progress is not None:
            progress(len(made), len(made))
        return made

    def _prepare(self, request: Any, *, task: str | None = None, resource: str | None = None,
                 not_before: datetime | timedelta | float | None = None, key: str | None = None,
                 on_conflict: str = "return", labels: Mapping[str, str] | None = None, priority: int = 0,
                 deadline: datetime | timedelta | float | None = None, after: Sequence[str] | None = None,
                 on_parent_failure: str = "cancel") -> tuple[Job, float, str]:
        """The new job, its delay and on_conflict, every argument checked."""
        json.dumps(request)
        parents = self._parents(after, on_parent_failure, key) if after is not None else ()
        if labels is not None and not isinstance(labels, Mapping):
            raise ValueError("labels are a mapping")
        labels = dict(labels or {})
        if not all(isinstance(v, str) for v in labels.values()) or labels.get("to") == "":
            raise ValueError("labels are strings; the address (to) is not empty")
        if not isinstance(priority, int) or abs(priority) > 100:
            raise ValueError("a priority is an integer from -100 to 100")
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(f"key must be a non-empty string, not {key!r}")
        if on_conflict not in ("return", "raise", "replace", "extend"):
            raise ValueError(f"on_conflict must be return, raise, replace or extend, not {on_conflict!r}")
        if on_conflict == "extend" and not_before is None:
            raise ValueError("on_conflict='extend' needs not_before")
        delay = not_before.total_seconds() if isinstance(not_before, timedelta) else float(not_before or 0)
        job_id = f"{time.time_ns():020d}{next(_ids):06d}"
        by = _at(deadline)
        job = Job(id=job_id, state="blocked" if parents else "pending", request=request, task=task, resource=resource,
                  key=key, labels=labels, priority=priority, after=parents, on_parent_failure=on_parent_failure,
                  deadline=None if by is None else datetime.fromtimestamp(by, UTC))
        return job, delay, on_conflict

    def _add(self, job: Job, delay: float, on_conflict: str) -> Job:
        key = job.key
        with self.backend.lock:
            holder = self.backend.keys.get(key) if key is not None else None
            if holder is not None:
                return self._on_conflict(holder, key, on_conflict, job.request, delay)
            if key is not None:
                self.backend.keys[key] = job.id
            self.backend.records[job.id] = _Record(job, not_before=time.monotonic() + delay)
            self._settle_dependants()
            self._wake()
        return self.get(job.id)

    def _parents(self, after: Sequence[str], on_parent_failure: str, key: str | None) -> tuple[str, ...]:
        """As JobStore: each parent once; every one must exist (so no cycle can be made)."""
        if isinstance(after, str):
            raise TypeError("after must be a list of job ids, not str")
        if on_parent_failure not in ON_PARENT_FAILURE:
            raise ValueError(f"on_parent_failure must be one of {', '.join(ON_PARENT_FAILURE)}")
        if key is not None:
            raise ValueError("a job with a unique key cannot wait for others (after=)")
        parents = tuple(dict.fromkeys(after))
        if not parents:
            raise ValueError("after is empty")
        with self.backend.lock:
            for parent in parents:
                try:
                    self._record(parent)
                except JobNotFound:
                    raise UnknownParent(parent) from None
        return parents

    def _settle_dependants(self) -> None:
        """Release or cancel every blocked job its parents now allow (under the backend
        lock), until nothing changes: a cancelled job is a resolved parent in turn."""
        changed = True
        while changed:
            changed = False
            for record in self.backend.records.values():
                job = record.job
                if job.state != "blocked":
                    continue
                verdict = self._verdict(job)
                if verdict is not None:
                    record.job = (replace(job, state="pending") if verdict == "" else
                                  replace(job, state="cancelled", error=verdict, updated_at=datetime.now(UTC)))
                    changed = True

    def _verdict(self, job: Job) -> str | None:
        """None: wait; "": release; else why it is cancelled."""
        unresolved = False
        for parent_id in job.after:
            parent = self.backend.records.get(parent_id)
            if parent is None:
                failure = f"parent {parent_id} no longer exists (purged or deleted)"
            elif parent.job.state == "fulfilled":
                continue
            elif not parent.job.resolved:
                unresolved = True
                continue
            else:
                error = parent.job.error
                failure = f"parent {parent_id} {parent.job.state}" + (f": {error}" if error else "")
            if job.on_parent_failure == "cancel":
                return f"cancelled: {failure}"
        return None if unresolved else ""

    def _on_conflict(self, job_id: str, key: Any, on_conflict: str, request: Any, delay: float) -> Job:
        """As JobStore: the job that has the key, as it is or changed (under the backend lock)."""
        if on_conflict == "raise":
            raise DuplicateJob(key, job_id)
        if on_conflict != "return":
            record = self.backend.records[job_id]
            state = self.get(job_id).state
            if state != "pending":
                raise JobStateError(f"job {job_id!r} with key {key!r} is {state}: only a pending job can be changed")
            if on_conflict == "replace":
                record.job = replace(record.job, request=request, updated_at=datetime.now(UTC))
            record.not_before = time.monotonic() + delay
            self._wake()
        return self.get(job_id)

    def _record(self, job_id: str) -> _Record:
        _check_id(job_id)
        record = self.backend.records.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    def get(self, job_id: str) -> Job:
        with self.backend.lock:
            record = self._record(job_id)
            held = job_id in self.backend.work and not record.job.resolved
            return replace(record.job, state="running" if held else record.job.state,
                           waiting=tuple(record.waiting), failed_deliveries=tuple(record.failures.values()))

    def dependants(self, job_id: str) -> list[str]:
        _check_id(job_id)
        with self.backend.lock:
            return sorted(other for other, record in self.backend.records.items() if job_id in record.job.after)

    def jobs(self, state: str | None = None, *, task: str | None = None, labels: Mapping[str, str] | None = None,
             after: str | None = None, limit: int | None = None, newest_first: bool = False) -> Iterator[Job]:
        check_listing(state, task, after, limit)
        with self.backend.lock:
            jobs = [self.get(job_id) for job_id in sorted(self.backend.records, reverse=newest_first)]
        wanted = dict(labels or {}).items()
        return itertools.islice(
            (job for job in jobs if (state is None or job.state == state) and (task is None or job.task == task)
             and wanted <= job.labels.items()
             and (after is None or (job.id < after if newest_first else job.id > after))),
            limit)

    def stats(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for job in self.jobs():
            counts[job.state] += 1
        counts["due"] = sum(1 for job in self.jobs() if job.resolved and job.waiting)
        return counts

    def stats_by_task(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for job in self.jobs():
            counts.setdefault(job.task or "", dict.fromkeys(STATES, 0))[job.state] += 1
        return counts

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.backend.changed:
            while not (job := self.get(job_id)).resolved:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"job {job_id!r} is still {job.state} after {timeout} s")
                self.backend.changed.wait(left)
        return job

    def _resolve_by_hand(self, job_id: str, state: str, **changes: Any) -> Job:
        with self.backend.lock:
            record = self._record(job_id)
            if record.job.resolved:
                raise JobAlreadyResolved(job_id, record.job.state)
            if state == "pending" and job_id in self.backend.work:
                raise JobBusy(job_id)  # a retry by hand needs the job free, as locally
            attempts = record.job.attempts + (state in ("pending", "failed"))
            record.job = replace(record.job, state=state, attempts=attempts, **changes)
            self._settle_dependants()
            self._wake()
        return self.get(job_id)

    def fulfill(self, job_id: str, value: Any) -> Job:
        return self._resolve_by_hand(job_id, "fulfilled", **_value_fields(value))

    def fail(self, job_id: str, error: str | BaseException, *, retry: bool = False,
             delay: float | None = None) -> Job:
        return self._resolve_by_hand(job_id, "pending" if retry else "failed", error=str(error))

    def cancel(self, job_id: str) -> Job:
        with self.backend.lock:
            record = self._record(job_id)
            if record.job.resolved:
                raise JobAlreadyResolved(job_id, record.job.state)
            record.job = replace(record.job, state="cancelled", error="cancelled")
            self._settle_dependants()
            self._wake()
        return self.get(job_id)

    def retry(self, job_id: str) -> Job:
        with self.backend.lock:
            record = self._record(job_id)
            if record.job.state not in RETRIABLE_STATES:
                raise JobStateError(f"job {job_id!r} is {record.job.state}; only failed, cancelled, expired or "
                                    "discarded jobs can be retried")
            record.job = replace(record.job, state="pending", value=None, attempts=0, deadline=None)
            self._wake()
        return self.get(job_id)

    def delete(self, job_id: str) -> Job:
        with self.backend.lock:
            record = self._record(job_id)
            if not record.job.resolved:
                state = "running" if job_id in self.backend.work else record.job.state
                raise JobStateError(f"job {job_id!r} is {state}: cancel it first, then delete it")
            job = replace(record.job, waiting=tuple(record.waiting))
            del self.backend.records[job_id]
            self._settle_dependants()
        return job

    def queue(self, job_id: str, target: Any) -> None:
        with self.backend.lock:
            record = self._record(job_id)
            if target not in record.waiting:
                record.waiting.append(target)
            self._wake()

    def unqueue(self, job_id: str, target: Any) -> None:
        self.unqueue_all(job_id, [target])

    def unqueue_all(self, job_id: str, targets: Any) -> None:
        with self.backend.lock:
            record = self._record(job_id)
            record.waiting = [t for t in record.waiting if t not in list(targets)]

    def _wake(self) -> None:
        self.backend.changed.notify_all()
        for signal in self.signals:
            signal.set()

    def work_signal(self) -> _Signal:
        self.signals.append(_Signal())
        return self.signals[-1]

    notification_signal = work_signal

    def stop_signal(self, signal: Any) -> None:
        if signal in self.signals:
            self.signals.remove(signal)

    def _next_due(self) -> float | None:
        now = time.monotonic()
        waits = [until - now for until in self.deferred.values() if until > now]
        return max(0.0, min(waits)) if waits else None

    def next_work_due(self) -> float | None:
        return self._next_due()

    def next_notification_due(self) -> float | None:
        return self._next_due()

    def register_worker(self, kind: str, tasks: Collection[str | None] | None, concurrency: int
                        ) -> _MemoryHeartbeat:
        info = WorkerInfo(id=f"memory-{next(_ids)}", kind=kind, host="memory", pid=0, started_at="",
                          tasks=None if tasks is None else list(tasks), concurrency=concurrency, current=[],
                          beats=0, beat_seconds=_MemoryHeartbeat.beat_seconds, alive=True)
        return _MemoryHeartbeat(self.backend, info)

    def workers(self, *, watch: float = 0.0) -> list[WorkerInfo]:
        with self.backend.lock:
            beats = list(self.backend.workers.values())
        now = time.monotonic()
        return [replace(b.info, alive=now - b.last < 3 * b.beat_seconds) for b in beats]

    def pause(self, task: str | None = None, *, reason: str | None = None) -> Pause:
        check_name("task", task, "the whole store")
        with self.backend.lock:
            pause = self.backend.pauses[task] = Pause(task=task, reason=reason, host="memory", pid=0)
        return pause

    def resume(self, task: str | None = None) -> bool:
        with self.backend.lock:
            resumed = self.backend.pauses.pop(task, None) is not None
            self._wake()
        return resumed

    def pauses(self) -> list[Pause]:
        return self.backend.pauses_in_force()

    def holdings(self) -> list[Holding]:
        with self.backend.lock:
            return [Holding(kind, job_id, "memory", 0)
                    for kind, table in (("work", self.backend.work), ("notify", self.backend.notes))
                    for job_id in sorted(table)]

    def set_limit(self, limit: int | None, *, resource: str | None = None, task: str | None = None) -> None:
        key = check_limit(limit, resource, task)
        with self.backend.lock:
            if limit is None:
                self.backend.limits.pop(key, None)
            else:
                self.backend.limits[key] = limit

    def limits(self) -> list[Limit]:
        with self.backend.lock:
            return [Limit(kind, name, limit) for (kind, name), limit in sorted(self.backend.limits.items())]

    def purge(self, older_than: float | None = None, *, progress: Any = None) -> int:
        with self.backend.lock:
            # (a parent is kept while a job made after it is still to run: it may read its value)
            needed = {parent for r in self.backend.records.values() if not r.job.resolved for parent in r.job.after}
            gone = [job_id for job_id, r in self.backend.records.items()
                    if r.job.resolved and not r.waiting and older_than is not None and job_id not in needed]
            for job_id in gone:
                key = self.backend.records.pop(job_id).job.key
                if key is not None:
                    del self.backend.keys[key]
        return len(gone)

    def check(self, *, repair: bool = False, progress: Any = None) -> Report:
        report = Report()
        for job in self.jobs():
            report.counts[job.state] += 1
        return report

    def close(self) -> None:
        self._closed.set()
        for handle in list(self.held):
            handle.release()


def _value_fields(value: Any) -> dict[str, Any]:
    """A fulfilment value as a job holds it (bytes, str or any JSON value, as locally)."""
    if isinstance(value, str):
        return {"value": value.encode("utf-8"), "value_encoding": "utf-8"}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"value": bytes(value), "value_encoding": None}
    try:
        return {"value": json_value_bytes(json.loads(json.dumps(value, allow_nan=False))), "value_encoding": "json"}
    except ValueError as exc:
        raise TypeError(f"value is not JSON-serialisable: {exc}") from None


def _check_id(job_id: object) -> None:
    if not isinstance(job_id, str) or not job_id or "/" in job_id:
        raise InvalidJobId(f"invalid job id {job_id!r}")
