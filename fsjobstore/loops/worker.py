"""Worker: pulls jobs, runs a handler on each, commits the result through the lease."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from .._arguments import check_count
from ..errors import AttemptFailed, JobAlreadyResolved, LeaseLost
from ..interface import Store, WakeSignal, WorkHandle
from ..job import Job
from .backoff import Backoff
from .base import Loop

log = logging.getLogger("fsjobstore")

Handler = Callable[[Job], bytes | str]


class Worker(Loop):
    """Do jobs with *handler* (one callable, or a mapping ``{task: callable}``).

    The handler gets the Job; what it returns (bytes or str) fulfils it. If it
    raises, the attempt failed (the error recorded is ``"Type: message"``, or
    just the message for ``AttemptFailed``): the job is retried after
    ``backoff.delay(n)`` seconds (not pullable by anyone before then) until
    ``max_attempts`` attempts have failed, and then resolved as failed with the
    error recorded. Leases are renewed in the background while the handler runs.
    With a mapping, only jobs of those tasks are pulled (``None`` as a key
    stands for jobs without a task).
    """

    def __init__(
        self,
        store: Store,
        handler: Handler | Mapping[str | None, Handler],
        *,
        concurrency: int = 1,
        poll_interval: float | None = None,
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        drain_timeout: float = 30.0,
    ) -> None:
        super().__init__(store, concurrency=concurrency, poll_interval=poll_interval, drain_timeout=drain_timeout)
        if isinstance(handler, Mapping):
            if not handler or not all(callable(h) for h in handler.values()):
                raise TypeError("a task mapping needs at least one task, each with a callable handler")
            self._handlers: Mapping[str | None, Handler] = dict(handler)
            self._tasks: frozenset[str | None] | None = frozenset(handler)
        elif callable(handler):
            self._handlers = {}
            self._default: Handler | None = handler
            self._tasks = None
        else:
            raise TypeError(f"handler must be callable or a mapping of task names to callables, not {handler!r}")
        if isinstance(handler, Mapping):
            self._default = None
        self.max_attempts = check_count("max_attempts", max_attempts)
        self.backoff = backoff or Backoff()
        self.fulfilled = 0
        self.failed_attempts = 0

    def _signal(self) -> WakeSignal:
        return self.store.work_signal()

    def _pull(self) -> WorkHandle | None:
        return self.store.pull_work(on_compromised=self._on_compromised, tasks=self._tasks)

    def _next_due(self) -> float | None:
        return self.store.next_work_due()

    @staticmethod
    def _on_compromised(lease: WorkHandle) -> None:
        log.warning("lost the lease on job %s while working on it; its result will not be committed", lease.id)

    def _process(self, lease: WorkHandle) -> None:
        job = lease.job
        handler = self._default if self._default is not None else self._handlers[job.task]
        try:
            result = handler(job)
            if not isinstance(result, (bytes, str)):
                raise TypeError(f"handler returned {type(result).__name__}; it must return bytes or str")
        except Exception as exc:
            self._failed(lease, exc)
            return
        try:
            lease.fulfill(result)
            self.fulfilled += 1
        except (LeaseLost, JobAlreadyResolved) as exc:
            log.warning("result of job %s not committed: %s", lease.id, exc)

    def _failed(self, lease: WorkHandle, exc: Exception) -> None:
        self.failed_attempts += 1
        attempt = lease.attempts + 1
        log.warning("job %s attempt %d/%d failed: %s: %s", lease.id, attempt, self.max_attempts,
                    type(exc).__name__, exc)
        log.debug("traceback of job %s attempt %d", lease.id, attempt, exc_info=exc)
        error: str | Exception = str(exc) if isinstance(exc, AttemptFailed) else exc
        try:
            if attempt >= self.max_attempts:
                lease.fail(error)
            else:
                lease.fail(error, retry=True, delay=self.backoff.delay(attempt))
        except (LeaseLost, JobAlreadyResolved) as commit_error:
            log.warning("failure of job %s not recorded: %s", lease.id, commit_error)
