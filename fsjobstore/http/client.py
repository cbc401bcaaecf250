"""HttpStore: the store interface over HTTP, so that Worker, Notifier and user code
run unchanged against ``fsjobstore serve`` on another host.

Errors are the store's own (JobNotFound, JobAlreadyResolved, LeaseLost, ...),
rebuilt from the server's JSON error bodies; a server that cannot be reached
raises ConnectionError (an OSError).
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from .._arguments import check_labels, check_limit, check_name
from .._files.ids import check_id, new_id
from .._files.values import encode_json
from .._files.wakeup import Signal
from ..errors import JobTooLarge
from ..interface import Holding, Limit, Pause, Problem, Progress, Report, WakeSignal, WorkerInfo, check_listing
from ..job import Job
from ..specs import batch, named
from . import heartbeats
from .api import Api
from .handles import HttpNotificationLease, HttpWorkLease, Renewer, error_text
from .heartbeats import HttpHeartbeat
from .wire import RemoteError, value_to_wire

__all__ = ["HttpNotificationLease", "HttpStore", "HttpWorkLease"]

PAGE = 500
WAIT_STEP = 30.0  # seconds one wait request lasts at most (the server allows 60)


class HttpStore:
    """A store served by ``fsjobstore serve`` at *url* (e.g. ``http://host:8080``).

    * ``token``: the bearer token (admin to change anything, read-only to read).
    * ``poll_interval``: how often idle loops over this store pull again.
    * ``timeout``: seconds a request may take, besides any wait it asks for.
    * ``wait``: default seconds ``pull_work``/``pull_notification`` wait on the
      server for something to do (0: answer at once, as a local store does).
    """

    def __init__(self, url: str, token: str | None = None, *, poll_interval: float = 1.0, timeout: float = 30.0,
                 wait: float = 0.0, client_name: str | None = None) -> None:
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        self._api = Api(url, token, timeout, client_name or f"{socket.gethostname()}:{os.getpid()}")
        self._poll_interval = float(poll_interval)
        self._wait = wait
        self._renewer = Renewer()
        # (monotonic) when the server's store may next hand out what it passed over
        self._work_due: float | None = None
        self._note_due: float | None = None

    @property
    def renewer(self) -> Renewer:
        """The thread renewing this client's leases (for tests: stopping it is what a
        hung client looks like to the server)."""
        return self._renewer

    @property
    def location(self) -> str:
        return self._api.url

    @property
    def poll_interval(self) -> float:
        return self._poll_interval

    def __enter__(self) -> HttpStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpStore({self.location!r})"

    def close(self) -> None:
        """Release every lease this store object holds and stop renewing."""
        for lease in self._renewer.held():
            lease.release()
        self._renewer.stop()
        self._api.close()

    # -- creation and queries

    def create(self, request: Any, *, task: str | None = None, resource: str | None = None,
               not_before: datetime | timedelta | float | None = None, expires_in: float | None = None,
               lease_seconds: float | None = None, key: str | None = None, on_conflict: str = "return",
               labels: Mapping[str, str] | None = None, priority: int = 0,
               deadline: datetime | timedelta | float | None = None, after: Sequence[str] | None = None,
               on_parent_failure: str = "cancel") -> Job:
        """As JobStore.create. The id is picked here, so that a request whose answer was
        lost is sent again and returns the job it made, not a second one."""
        body = _create_body(request, task=task, resource=resource, not_before=not_before, expires_in=expires_in,
                            lease_seconds=lease_seconds, key=key, on_conflict=on_conflict, labels=labels,
                            priority=priority, deadline=deadline, after=after, on_parent_failure=on_parent_failure)
        return Job.from_dict(self._api.call("POST", "/api/jobs", json=body, repeatable=True))

    def create_many(self, requests: Iterable[Any], *, task: str | None = None, resource: str | None = None,
                    not_before: datetime | timedelta | float | None = None, expires_in: float | None = None,
                    lease_seconds: float | None = None, on_conflict: str = "return",
                    labels: Mapping[str, str] | None = None, priority: int = 0,
                    deadline: datetime | timedelta | float | None = None,
                    progress: Progress | None = None) -> list[Job]:
        """As JobStore.create_many, in one round trip (413 beyond the server's body
        limit: nothing made, send smaller batches); sent again, as create, if its answer
        was lost."""
        items = batch(requests, {"task": task, "resource": resource, "not_before": not_before,
                                 "expires_in": expires_in, "lease_seconds": lease_seconds,
                                 "on_conflict": on_conflict, "labels": labels, "priority": priority,
                                 "deadline": deadline})
        jobs = []
        for index, (request, options) in enumerate(items):
            try:
                jobs.append(_create_body(request, **options))
            except (TypeError, ValueError) as exc:
                raise named(index, exc) from exc
        if not jobs:
            return []
        try:
            answer = self._api.call("POST", "/api/jobs/batch", json={"jobs": jobs}, repeatable=True)
        except RemoteError as exc:
            if exc.status != 413:
                raise
            raise JobTooLarge(f"{exc.message}: a batch of {len(jobs)} jobs is too large for this server, "
                              "nothing was made; send smaller batches") from exc
        made = [Job.from_dict(job) for job in answer["jobs"]]
        if progress is not None:
            progress(len(made), len(made))
        return made

    def get(self, job_id: str) -> Job:
        return Job.from_dict(self._api.call("GET", _job_path(job_id)))

    def dependants(self, job_id: str) -> list[str]:
        return list(self._api.call("GET", _job_path(job_id) + "/dependants")["dependants"])

    def jobs(self, state: str | None = None, *, task: str | None = None, labels: Mapping[str, str] | None = None,
             after: str | None = None, limit: int | None = None, newest_first: bool = False) -> Iterator[Job]:
        """As ``Store.jobs``, fetched a page at a time."""
        check_listing(state, task, after, limit)
        return self._pages(state, task, labels, after, limit, newest_first)

    def _pages(self, state: str | None, task: str | None, labels: Mapping[str, str] | None, after: str | None,
               limit: int | None, newest_first: bool) -> Iterator[Job]:
        params: dict[str, Any] = {"sort": "-created" if newest_first else "created"}
        for name, value in (("state", state), ("task", task), ("after", after)):
            if value is not None:
                params[name] = value
        if labels:
            params["label"] = [f"{name}={value}" for name, value in labels.items()]
        left = limit
        while left is None or left > 0:
            params["limit"] = PAGE if left is None else min(PAGE, left)
            answer = self._api.call("GET", "/api/jobs", params=params)
            jobs = [Job.from_dict(job) for job in answer["jobs"]]
            yield from jobs
            if left is not None:
                left -= len(jobs)
            if answer["next_cursor"] is None:
                return
            params["cursor"] = answer["next_cursor"]

    def stats(self) -> dict[str, int]:
        answer: dict[str, int] = self._api.call("GET", "/api/stats")
        return answer

    def stats_by_task(self) -> dict[str, dict[str, int]]:
        answer: dict[str, dict[str, int]] = self._api.call("GET", "/api/stats/tasks")
        return answer

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = WAIT_STEP if deadline is None else max(0.0, min(WAIT_STEP, deadline - time.monotonic()))
            job = Job.from_dict(self._api.call("GET", _job_path(job_id) + "/wait", params={"timeout": step},
                                               wait=step))
            if job.resolved:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id!r} is still {job.state} after {timeout} s")

    # -- fulfilment

    def pull_work(self, on_compromised: Callable[[Any], None] | None = None, *,
                  tasks: Collection[str | None] | None = None, to: str | None = None,
                  wait: float | None = None) -> HttpWorkLease | None:
        """Lease one job to do, waiting up to *wait* seconds (default: the store's) for one."""
        wait = self._wait if wait is None else wait
        body = {"tasks": None if tasks is None else list(tasks), "wait": wait, "to": to}
        answer = self._api.call("POST", "/api/work/pull", json=body, wait=wait)
        self._work_due = _due_at(answer.get("next_due"))
        grant = answer["lease"]
        return None if grant is None else HttpWorkLease(self._api, self._renewer, grant, on_compromised)

    def fulfill(self, job_id: str, value: Any) -> Job:
        body = value_to_wire(value)
        return Job.from_dict(self._api.call("POST", _job_path(job_id) + "/fulfill", json=body))

    def fail(self, job_id: str, error: str | BaseException, *, retry: bool = False,
             delay: float | None = None) -> Job:
        body = {"error": error_text(error), "retry": retry, "delay": delay}
        return Job.from_dict(self._api.call("POST", _job_path(job_id) + "/fail", json=body))

    def cancel(self, job_id: str) -> Job:
        return Job.from_dict(self._api.call("POST", _job_path(job_id) + "/cancel"))

    def retry(self, job_id: str) -> Job:
        return Job.from_dict(self._api.call("POST", _job_path(job_id) + "/retry"))

    def work_signal(self) -> Signal:
        """A signal nothing sets but the loop's own stop(): over HTTP, loops poll
        every ``poll_interval`` (or wait on the server, with ``wait``)."""
        return Signal()

    def next_work_due(self) -> float | None:
        """When the server's store said, at this client's last pull, that a job it
        passed over (a retry's delay) may be handed out."""
        return _left(self._work_due)

    # -- notification

    def queue(self, job_id: str, target: Any) -> None:
        encode_json(target, "target")  # TypeError here, as locally, not a 422 from the server
        self._api.call("POST", _job_path(job_id) + "/queue", json={"target": target})

    def unqueue(self, job_id: str, target: Any) -> None:
        self.unqueue_all(job_id, [target])

    def unqueue_all(self, job_id: str, targets: Any) -> None:
        targets = list(targets)
        encode_json(targets, "targets")
        self._api.call("POST", _job_path(job_id) + "/unqueue", json={"targets": targets})

    def pull_notification(self, on_compromised: Callable[[Any], None] | None = None, *,
                          wait: float | None = None) -> HttpNotificationLease | None:
        wait = self._wait if wait is None else wait
        answer = self._api.call("POST", "/api/notifications/pull", json={"wait": wait}, wait=wait)
        self._note_due = _due_at(answer.get("next_due"))
        grant = answer["lease"]
        return None if grant is None else HttpNotificationLease(self._api, self._renewer, grant, on_compromised)

    def notification_signal(self) -> Signal:
        return Signal()

    def next_notification_due(self) -> float | None:
        return _left(self._note_due)

    def stop_signal(self, signal: WakeSignal) -> None:
        """Nothing to stop: no watcher sets this client's signals."""

    # -- pauses

    def pause(self, task: str | None = None, *, reason: str | None = None) -> Pause:
        check_name("task", task, "the whole store")
        return Pause(**self._api.call("POST", "/api/pauses", json={"task": task, "reason": reason}))

    def resume(self, task: str | None = None) -> bool:
        check_name("task", task, "the whole store")
        return bool(self._api.call("POST", "/api/pauses/resume", json={"task": task})["resumed"])

    def pauses(self) -> list[Pause]:
        return [Pause(**entry) for entry in self._api.call("GET", "/api/pauses")]

    def holdings(self) -> list[Holding]:
        """As JobStore's: the leases held on the server's store (those the server
        holds for its HTTP clients name the server's host and pid)."""
        return [Holding(**entry) for entry in self._api.call("GET", "/api/holdings")]

    def set_limit(self, limit: int | None, *, resource: str | None = None, task: str | None = None) -> None:
        check_limit(limit, resource, task)  # (TypeError and ValueError here, as locally, not a 422)
        self._api.call("POST", "/api/limits", json={"limit": limit, "resource": resource, "task": task})

    def limits(self) -> list[Limit]:
        return [Limit(**entry) for entry in self._api.call("GET", "/api/limits")]

    # -- maintenance

    def purge(self, older_than: float | None = None, *, progress: Progress | None = None) -> int:
        """As JobStore.purge, run by the server (*progress* is not reported over HTTP)."""
        removed: int = self._api.call("POST", "/api/purge", json={"older_than": older_than})["removed"]
        return removed

    def delete(self, job_id: str) -> Job:
        """As JobStore.delete, run by the server (admin token)."""
        return Job.from_dict(self._api.call("DELETE", _job_path(job_id)))

    def register_worker(self, kind: str, tasks: Collection[str | None] | None, concurrency: int) -> HttpHeartbeat:
        """As JobStore's: the server keeps the record in the store for this loop."""
        return HttpHeartbeat(self._api, kind, tasks, concurrency)

    def workers(self, *, watch: float = 0.0) -> list[WorkerInfo]:
        """As JobStore's, read by the server (local loops and those over HTTP alike)."""
        return heartbeats.workers(self._api, watch)

    def check(self, *, repair: bool = False, progress: Progress | None = None) -> Report:
        """As JobStore's check, run by the server (*progress* is not reported over HTTP)."""
        answer = self._api.call("POST", "/api/check", json={"repair": repair})
        problems = [Problem(p["kind"], p["path"], p["detail"], p["repaired"]) for p in answer["problems"]]
        return Report(counts=Counter(answer["counts"]), problems=problems, temp_files=answer["temp_files"],
                      leases=answer["leases"])


def _due_at(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds


def _left(due_at: float | None) -> float | None:
    return None if due_at is None else max(0.0, due_at - time.monotonic())


def _job_path(job_id: str) -> str:
    return "/api/jobs/" + quote(check_id(job_id), safe="")


def _create_body(request: Any, *, task: str | None = None, resource: str | None = None,
                 not_before: datetime | timedelta | float | None = None, expires_in: float | None = None,
                 lease_seconds: float | None = None, key: str | None = None, on_conflict: str = "return",
                 labels: Mapping[str, str] | None = None, priority: int = 0,
                 deadline: datetime | timedelta | float | None = None, after: Sequence[str] | None = None,
                 on_parent_failure: str = "cancel") -> dict[str, Any]:
    """The body of one create, under a new id; bad input raises here, as locally."""
    encode_json(request, "request")
    body: dict[str, Any] = {"id": new_id(), "request": request, "task": task, "resource": resource,
                            "expires_in": expires_in, "lease_seconds": lease_seconds, "key": key,
                            "on_conflict": on_conflict, "labels": check_labels(labels) or None, "priority": priority}
    body.update(_when(not_before, "not_before", "delay"))
    body.update(_when(deadline, "deadline", "deadline_in"))
    if isinstance(after, str):
        raise TypeError("after must be a list of job ids, not str")
    if after is not None:
        body["after"] = list(after)
    if on_parent_failure != "cancel":
        body["on_parent_failure"] = on_parent_failure
    return body


def _when(when: datetime | timedelta | float | None, absolute: str, relative: str) -> dict[str, Any]:
    """A time as the API takes it: *absolute* for a datetime, *relative* for seconds."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{absolute} must be a timezone-aware datetime")
        return {absolute: when.isoformat()}
    if isinstance(when, timedelta):
        return {relative: max(0.0, when.total_seconds())}
    return {} if when is None else {relative: when}
