"""Notifier: delivers resolved jobs' results to their waiting targets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .._arguments import check_count
from .._files.values import canonical_json
from ..errors import LeaseLost
from ..interface import NotificationHandle, Store, WakeSignal
from ..job import Job
from .backoff import Backoff
from .base import Loop
from .running import error_text

log = logging.getLogger("fsjobstore")


class Notifier(Loop):
    """Call ``deliver(target, job)`` for each waiting target of each resolved job.

    A call that returns delivered the target (it is removed); one that raises
    did not: the failure is counted in the target's file (with the error and the
    time, as ``show`` and ``Job.failed_deliveries`` tell) and the target is retried
    after ``backoff.delay(n)`` seconds, until ``max_attempts`` deliveries failed:
    then it is given up (no longer waiting; kept, with its last error, until the
    job is purged; ``queue`` it again to retry). ``max_attempts=None`` retries
    forever. Delivery is at least once: a notifier that dies mid-delivery leaves
    the targets due for the next one. The count is shared by every notifier (it is
    on disk); the backoff is each notifier's own.
    """

    def __init__(
        self,
        store: Store,
        deliver: Callable[[Any, Job], object],
        *,
        concurrency: int = 1,
        poll_interval: float | None = None,
        backoff: Backoff | None = None,
        max_attempts: int | None = 10,
        drain_timeout: float = 30.0,
    ) -> None:
        super().__init__(store, concurrency=concurrency, poll_interval=poll_interval, drain_timeout=drain_timeout)
        if not callable(deliver):
            raise TypeError(f"deliver must be callable, not {deliver!r}")
        self.deliver = deliver
        self.backoff = backoff or Backoff()
        self.max_attempts = None if max_attempts is None else check_count("max_attempts", max_attempts)
        self.delivered = 0
        self.failed_deliveries = 0
        # (job id, target) -> (failures so far, monotonic time of the next try)
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}

    kind = "notifier"

    def _signal(self) -> WakeSignal:
        return self.store.notification_signal()

    def _pull(self) -> NotificationHandle | None:
        return self.store.pull_notification()

    def _next_due(self) -> float | None:
        return self.store.next_notification_due()

    def _process(self, note: NotificationHandle) -> None:
        job = note.job
        delivered = []
        failed: list[tuple[Any, str]] = []
        next_try: float | None = None
        for target in note.waiting:
            key = (note.id, canonical_json(target))
            failures, not_before = self._failures.get(key, (0, 0.0))
            now = time.monotonic()
            if not_before > now:
                next_try = not_before if next_try is None else min(next_try, not_before)
                continue
            try:
                self.deliver(target, job)
            except Exception as exc:
                failures += 1
                failed.append((target, error_text(exc)))
                retry_at = now + self.backoff.delay(failures)
                if self.max_attempts is not None and failures >= self.max_attempts:
                    self._failures.pop(key, None)  # (given up, unless the count on disk says otherwise)
                else:
                    self._failures[key] = (failures, retry_at)
                next_try = retry_at if next_try is None else min(next_try, retry_at)
                log.warning("delivering job %s (%s) to %s failed (%d times): %s", note.id, job.task or "-", key[1],
                            failures, exc)
            else:
                self._failures.pop(key, None)
                delivered.append(target)
                log.info("job %s (%s) delivered to %s in %.3f s", note.id, job.task or "-", key[1],
                         time.monotonic() - now)
        try:
            note.done(delivered, failed=failed, give_up_after=self.max_attempts,
                      retry_in=None if next_try is None else max(0.0, next_try - time.monotonic()))
            self.delivered += len(delivered)
            self.failed_deliveries += len(failed)
        except LeaseLost as exc:
            log.warning("deliveries of job %s not recorded (they will be repeated): %s", note.id, exc)
