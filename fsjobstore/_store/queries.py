"""Reading a store without changing it: one job, every job, counts, waiting for a
resolution, and the wake-up signals loops wait on."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from .._files import folders, fsio
from .._files.ids import check_id
from .._files.layout import RECORD_SUFFIX
from .._files.records import Record
from .._files.wakeup import APPEARED, VANISHED, Signal, unwatch, watch
from ..errors import CorruptJobFile, JobNotFound
from ..job import BLOCKED, PENDING, RESOLVED_STATES, RUNNING, STATES, Job
from .context import StoreContext


class Queries:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx

    def get(self, job_id: str) -> Job:
        check_id(job_id)
        record, state = self.ctx.read(job_id)
        return self.ctx.job(record, state)

    def dependants(self, job_id: str) -> list[str]:
        check_id(job_id)
        return self.ctx.dependencies.dependants(job_id)

    def record_path(self, job_id: str) -> str:
        check_id(job_id)
        layout = self.ctx.layout
        for path in (layout.resolved_path(job_id), layout.pending_path(job_id), layout.blocked_path(job_id),
                     layout.pending_path(job_id), layout.resolved_path(job_id)):
            if fsio.exists(path):
                return str(path)
        raise JobNotFound(job_id)

    def jobs(self, state: str | None = None, labels: Mapping[str, str] | None = None) -> Iterator[Job]:
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r}; the states are {', '.join(STATES)}")
        wanted = dict(labels or {}).items()
        layout = self.ctx.layout
        seen: set[str] = set()
        if state in (None, BLOCKED):
            for job_id in sorted(folders.scan(layout.blocked, RECORD_SUFFIX)):
                job = self._job_at(layout.blocked_path(job_id), job_id, BLOCKED)
                if job is not None and not self._released(job_id):
                    seen.add(job_id)
                    if wanted <= job.labels.items():
                        yield job
        if state in (None, PENDING, RUNNING):
            leased = set(folders.scan(layout.work_leases, ""))
            for job_id in self._pending_ids():
                job_state = RUNNING if job_id in leased else PENDING
                if state is not None and job_state != state:
                    continue
                job = self._job_at(layout.pending_path(job_id), job_id, job_state)
                if job is not None and job_id not in seen and not fsio.exists(layout.resolved_path(job_id)):
                    seen.add(job_id)
                    if wanted <= job.labels.items():
                        yield job
        if state is None or state in RESOLVED_STATES:
            for job_id in sorted(folders.scan(layout.resolved, RECORD_SUFFIX)):
                if job_id in seen:
                    continue
                job = self._job_at(layout.resolved_path(job_id), job_id, None)
                if job is not None and (state is None or job.state == state) and wanted <= job.labels.items():
                    yield job

    def _released(self, job_id: str) -> bool:
        """Whether a blocked record's job is pending or resolved too (its settler
        stopped between its steps): the other record is the truth."""
        layout = self.ctx.layout
        return fsio.exists(layout.resolved_path(job_id)) or fsio.exists(layout.pending_path(job_id))

    def _pending_ids(self) -> list[str]:
        """The ids of every pending record, in every queue, in creation order."""
        layout = self.ctx.layout
        return sorted(job_id for folder in layout.pending_folders() for job_id in folders.scan(folder, RECORD_SUFFIX))

    def _job_at(self, path: str, job_id: str, state: str | None) -> Job | None:
        try:
            record = Record.load(path, job_id)
        except FileNotFoundError:
            return None
        except CorruptJobFile as exc:
            self.ctx.report(exc)
            return None
        return self.ctx.job(record, state)

    def stats(self) -> dict[str, int]:
        ctx = self.ctx
        layout = ctx.layout
        pending = set(self._pending_ids()) - set(folders.scan(layout.resolved, RECORD_SUFFIX))
        running = len(pending & set(folders.scan(layout.work_leases, "")))
        blocked = sum(1 for job_id in folders.scan(layout.blocked, RECORD_SUFFIX) if not self._released(job_id))
        counts = {PENDING: len(pending) - running, BLOCKED: blocked, RUNNING: running,
                  **dict.fromkeys(RESOLVED_STATES, 0)}
        for job_id in folders.scan(layout.resolved, RECORD_SUFFIX):
            try:
                record = ctx.read_resolved(job_id)
            except CorruptJobFile as exc:
                ctx.report(exc)
                continue
            if record is not None:
                counts[record.state] += 1
        counts["due"] = sum(1 for _ in folders.scan(layout.due, ""))
        return counts

    def wait(self, job_id: str, timeout: float | None) -> Job:
        check_id(job_id)
        options = self.ctx.options
        deadline = None if timeout is None else time.monotonic() + timeout
        signal = watch({self.ctx.layout.resolved.path: APPEARED}, options.watch)
        try:
            while True:
                signal.clear()
                job = self.get(job_id)
                if job.resolved:
                    return job
                left = options.poll_interval
                if deadline is not None:
                    left = min(left, deadline - time.monotonic())
                if left <= 0:
                    raise TimeoutError(f"job {job_id!r} is still {job.state} after {timeout} s")
                signal.wait(left)
        finally:
            unwatch(signal)

    def work_signal(self) -> Signal:
        layout = self.ctx.layout
        # Not leases/work: a puller releases leases there itself (a job it passed
        # over), and would wake itself in a loop. A job released without a commit,
        # or made in a queue folder made after this signal, is found at the next poll.
        folders_ = {folder.path: APPEARED for folder in layout.pending_folders()}
        return watch({**folders_, layout.resource_leases.path: VANISHED}, self.ctx.options.watch)

    def notification_signal(self) -> Signal:
        return watch({self.ctx.layout.due.path: APPEARED}, self.ctx.options.watch)
