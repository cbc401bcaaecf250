"""Worker: pulls jobs, runs a handler on each, commits the result through the lease."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from .._arguments import check_count, check_seconds
from ..errors import AttemptFailed, JobAlreadyResolved, JobStoreError, LeaseLost
from ..interface import Store, WakeSignal, WorkHandle, WorkspaceKeeper
from ..job import Job
from .backoff import Backoff
from .base import Loop
from .pruner import PURGE_EVERY, Pruner
from .reaper import Reaper
from .running import ISOLATIONS, KILL_GRACE, MAX_ERROR_CHARS, HandlerFailed, error_text, run_handler
from .scheduler import Scheduler

log = logging.getLogger("fsjobstore")

Handler = Callable[[Job], bytes | str]
# The longest error recorded for an attempt: a handler's exception may carry a
# megabyte of text, and a record over the store's limit could not be written.
_HERE = os.path.dirname(os.path.abspath(__file__))


class Worker(Loop):
    """Do jobs with *handler* (one callable, or a mapping ``{task: callable}``).

    The handler gets the Job; what it returns (bytes, str or any JSON value) fulfils it. If it
    raises, the attempt failed (the error recorded is ``"Type: message"``, or
    just the message for ``AttemptFailed``): the job is retried after
    ``backoff.delay(n)`` seconds (not pullable by anyone before then) until
    ``max_attempts`` attempts have failed, and then resolved as failed with the
    error recorded. A result that cannot be stored (too large, not JSON)
    is a failed attempt like any other. ``AttemptFailed(..., retry=False)``, or an
    exception of a class in *fatal*, fails the job at once;
    ``AttemptFailed(..., discard=True)`` discards it (invalid: never retried).

    Attempts count every failure, including a previous holder whose lease expired
    (its process crashed or hung): a job that kills its workers is failed once
    ``max_attempts`` is reached, with an error that says so.

    ``timeout`` (seconds, or ``{task: seconds}``) bounds a handler's run: past it
    the attempt fails. With ``isolation="thread"`` (the default) a handler that
    overruns is abandoned, not stopped (a thread cannot be killed); with
    ``isolation="process"`` each handler call runs in a forked child, in a process
    group of its own, which is stopped (SIGTERM, then SIGKILL) when its time is up,
    when its lease is lost, when the worker is aborting, and by the worker's reaper
    process when the worker dies (even by SIGKILL). Leases are renewed in
    the background while the handler runs. With a mapping, only jobs of those
    tasks are pulled (``None`` as a key stands for jobs without a task). With
    ``to``, only jobs addressed to it (their label ``to``); without, only jobs
    addressed to nobody.
    ``workspaces=True`` gives each attempt a folder of its own in the store
    (``worker.workspace()``, from the handler), committed as the job's result
    with its value (``JobStore.workspaces``). ``schedules=True`` also makes the
    ticks of the store's schedules while it runs (a Scheduler in a thread; any
    number may run, on any hosts). Every ``purge_every`` seconds (an hour; None:
    never; not in a burst) it purges the jobs past their retention (``purge()``).
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
        timeout: float | Mapping[str | None, float] | None = None,
        isolation: str = "thread",
        fatal: tuple[type[BaseException], ...] = (),
        schedules: bool = False,
        workspaces: bool = False,
        to: str | None = None,
        purge_every: float | None = PURGE_EVERY,
    ) -> None:
        super().__init__(store, concurrency=concurrency, poll_interval=poll_interval, drain_timeout=drain_timeout)
        self._pruner = None if purge_every is None else Pruner(store, purge_every)
        # (made now, so that a store without schedules is refused before run())
        self._scheduler = Scheduler(store, poll_interval=poll_interval) if schedules else None
        self._workspaces = _workspaces(store) if workspaces else None
        self._folders: dict[int, str] = {}  # thread -> the folder of the attempt it runs
        self._handlers, self._tasks = _handlers(handler)
        self.to = to
        self.max_attempts = check_count("max_attempts", max_attempts)
        self.backoff = backoff or Backoff()
        self._timeout, self._task_timeouts = _timeouts(timeout)
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}, not {isolation!r}")
        self.isolation = isolation
        # (started with the first child: a process beside the worker, see reaper.py)
        self._reaper = Reaper(KILL_GRACE) if isolation == "process" else None
        self.fatal = fatal
        self.fulfilled = 0
        self.failed_attempts = 0

    kind = "worker"

    def run(self, *, burst: bool = False) -> None:
        """As Loop.run; with ``schedules=True`` a Scheduler runs in a thread beside
        the worker for as long as it does, and (but in a burst) a Pruner purges the
        store every ``purge_every`` seconds."""
        beside: list[tuple[str, Callable[[], None], Callable[[], None]]] = []
        if self._scheduler is not None:
            beside.append(("scheduler", self._scheduler.run, self._scheduler.stop))
        if self._pruner is not None and not burst:
            beside.append(("pruner", self._pruner.run, self._pruner.stop))
        threads = [threading.Thread(target=run, name=f"Worker-{name}", daemon=True) for name, run, _ in beside]
        for thread in threads:
            thread.start()
        try:
            super().run(burst=burst)
        finally:
            for _, _, stop in beside:
                stop()
            for thread in threads:
                thread.join()
            if self._reaper is not None:
                self._reaper.close()

    def _tasks_pulled(self) -> frozenset[str | None] | None:
        return self._tasks

    def _pausable(self) -> frozenset[str | None] | None:
        return self._tasks

    def describe(self) -> str:
        tasks = "any task" if self._tasks is None else ", ".join(sorted(map(str, self._tasks)))
        return (f"worker on {self.store.location}: {tasks}; concurrency {self.concurrency}, "
                f"max attempts {self.max_attempts}, isolation {self.isolation}")

    def _signal(self) -> WakeSignal:
        return self.store.work_signal()

    def _pull(self) -> WorkHandle | None:
        return self.store.pull_work(on_compromised=self._on_compromised, tasks=self._tasks, to=self.to)

    def _next_due(self) -> float | None:
        return self.store.next_work_due()

    def _on_compromised(self, lease: WorkHandle) -> None:
        log.warning("lost the lease on job %s while working on it (%s); its result will not be committed",
                    lease.id, lease.loss)

    def _process(self, lease: WorkHandle) -> None:
        job = lease.job
        if lease.attempts >= self.max_attempts:
            # Only a holder that died or hung gets here (a live one fails its last
            # attempt itself): the handler is not run again.
            self._commit_failure(lease, f"gave up after {lease.attempts} attempts; the last: {job.error} "
                                        "(the handler may crash or hang its worker)", retry=False, attempt=False)
            return
        started = time.monotonic()
        folder = None
        try:
            if self._workspaces is not None:
                folder = self._folders[threading.get_ident()] = self._workspaces.attempt(lease)
            result = run_handler(self._handler_for(job), job, timeout=self._task_timeouts.get(job.task, self._timeout),
                                 isolation=self.isolation, stop_requested=self.stop_requested, reaper=self._reaper)
            if self._workspaces is not None and folder is not None:
                self._workspaces.fulfill(lease, result, folder)
            else:
                lease.fulfill(result)
        except (LeaseLost, JobAlreadyResolved) as exc:
            log.warning("result of job %s not committed: %s", lease.id, exc)
        except Exception as exc:  # the handler's failure, or a result the store refused
            self._failed(lease, exc, time.monotonic() - started)
        else:
            self.fulfilled += 1
            log.info("job %s (%s) fulfilled in %.3f s", lease.id, job.task or "-", time.monotonic() - started)
        finally:
            self._folders.pop(threading.get_ident(), None)

    def workspace(self) -> str | None:
        """For a handler while it runs (with ``workspaces=True``): the folder this
        attempt writes its results in; the job's input is ``../../input``."""
        return self._folders.get(threading.get_ident())

    def progress(self, job: Job, value: Any) -> None:
        """For a handler while it runs (in any thread; not from a child process of
        ``isolation="process"``): keep *value* (any JSON) as *job*'s progress,
        fenced through its lease (LeaseLost if that was lost). ``get`` shows it;
        if this attempt crashes or loses its lease, the next one gets it as
        ``job.progress``: a checkpoint to start from."""
        with self._lock:
            lease = next((lease for lease in self._active.values() if lease.id == job.id), None)
        if lease is None:
            raise LeaseLost(f"this worker holds no lease on job {job.id}")
        lease.progress(value)

    def _handler_for(self, job: Job) -> Handler:
        return self._handlers[job.task] if self._tasks is not None else self._handlers[None]

    def _failed(self, lease: WorkHandle, exc: Exception, seconds: float) -> None:
        if getattr(exc, "discard", False):
            log.warning("job %s (%s) discarded: %s", lease.id, lease.job.task or "-", error_text(exc))
            try:
                lease.discard(error_text(exc))
            except JobStoreError as commit_error:
                log.warning("discarding job %s not recorded: %s", lease.id, commit_error)
            return
        self.failed_attempts += 1
        attempt = lease.attempts + 1
        retry = attempt < self.max_attempts and not isinstance(exc, self.fatal) and getattr(exc, "retry", True)
        log.warning("job %s (%s) attempt %d/%d failed after %.3f s%s: %s", lease.id, lease.job.task or "-",
                    attempt, self.max_attempts, seconds, "" if retry else " (final)", error_text(exc),
                    exc_info=None if isinstance(exc, (AttemptFailed, HandlerFailed)) else exc)
        if isinstance(exc, HandlerFailed):
            log.warning("traceback of job %s in its process:\n%s", lease.id, exc.trace.rstrip())
        self._commit_failure(lease, error_text(exc), retry=retry, delay=self.backoff.delay(attempt), trace=_trace(exc))

    @staticmethod
    def _commit_failure(lease: WorkHandle, error: str, *, retry: bool, delay: float = 0.0,
                        attempt: bool = True, trace: str | None = None) -> None:
        try:
            if retry:
                lease.fail(error, retry=True, delay=delay, trace=trace)
            else:
                lease.fail(error, attempt=attempt, trace=trace)
        except (LeaseLost, JobAlreadyResolved) as commit_error:
            log.warning("failure of job %s not recorded: %s", lease.id, commit_error)
        except JobStoreError as commit_error:
            log.error("failure of job %s not recorded: %s", lease.id, commit_error)


def _trace(exc: BaseException) -> str | None:
    """The traceback kept with a failed attempt (none for AttemptFailed, whose message
    says it all); its end, if it is longer than MAX_ERROR_CHARS."""
    if isinstance(exc, AttemptFailed):
        return None
    text = exc.trace if isinstance(exc, HandlerFailed) else _handler_frames(exc)
    return text if len(text) <= MAX_ERROR_CHARS else "(cut) ... " + text[-(MAX_ERROR_CHARS - 10):]


def _handler_frames(exc: BaseException) -> str:
    """The traceback from the handler's own frames down: the loop's frames above it
    say nothing about the failure (all of them, if it was the loop that raised)."""
    tb = exc.__traceback__
    while tb is not None and os.path.dirname(tb.tb_frame.f_code.co_filename) == _HERE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def _workspaces(store: Store) -> WorkspaceKeeper:
    keeper = getattr(store, "workspaces", None)
    if not isinstance(keeper, WorkspaceKeeper):
        raise TypeError(f"workspaces live in a store's folder: {store.location} has none (use a JobStore)")
    return keeper


def _handlers(handler: Any) -> tuple[dict[str | None, Handler], frozenset[str | None] | None]:
    """The handler of each task (None: jobs without one), and the tasks to pull
    (None: every job, all to one handler)."""
    if isinstance(handler, Mapping):
        if not handler or not all(callable(h) for h in handler.values()):
            raise TypeError("a task mapping needs at least one task, each with a callable handler")
        return dict(handler), frozenset(handler)
    if callable(handler):
        return {None: handler}, None
    raise TypeError(f"handler must be callable or a mapping of task names to callables, not {handler!r}")


def _timeouts(timeout: float | Mapping[str | None, float] | None
              ) -> tuple[float | None, dict[str | None, float]]:
    """The timeout of every task, and those of tasks given their own."""
    if isinstance(timeout, Mapping):
        return None, {task: check_seconds(f"timeout of task {task!r}", seconds) for task, seconds in timeout.items()}
    return None if timeout is None else check_seconds("timeout", timeout), {}
