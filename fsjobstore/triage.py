"""Failed-job triage over any store (local, remote, in memory): the jobs matching a
filter, and retrying every one of them, with progress for a bar."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .errors import JobStoreError
from .interface import Progress, Store
from .job import FAILED, Job


@dataclass(frozen=True)
class JobFilter:
    """Which jobs: each given part must match (None: any).

    * ``state``: the job's state; ``task``: its task.
    * ``error``: text found in its error (letter case ignored).
    * ``labels``: labels it has, each with this value.
    * ``text``: text found in its task, request or error (letter case ignored).
    * ``priority``: its priority.
    """

    state: str | None = None
    task: str | None = None
    error: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None
    priority: int | None = None

    def matches(self, job: Job) -> bool:
        """Whether *job* matches (its state and labels too, for jobs listed otherwise)."""
        if (self.state is not None and job.state != self.state) or (self.task is not None and job.task != self.task):
            return False
        if self.error and self.error.lower() not in (job.error or "").lower():
            return False
        if not self.labels.items() <= job.labels.items():
            return False
        if self.priority is not None and job.priority != self.priority:
            return False
        if not self.text:
            return True
        needle = self.text.lower()
        haystack = (job.task or "", json.dumps(job.request, ensure_ascii=False), job.error or "")
        return any(needle in part.lower() for part in haystack)

    def jobs(self, store: Store) -> Iterator[Job]:
        """The jobs of *store* that match, in the order ``store.jobs`` gives them."""
        return (job for job in store.jobs(self.state, task=self.task, labels=self.labels) if self.matches(job))


@dataclass
class Retried:
    """What ``retry_matching`` did: the ids retried, and why each other was not."""

    retried: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def retry_matching(store: Store, where: JobFilter = JobFilter(state=FAILED), *,
                   progress: Progress | None = None) -> Retried:
    """Retry every job that matches *where* (default: every failed job), as found
    when this starts. A job that cannot be retried (busy, retried or purged
    meanwhile) is skipped with the reason. ``progress(done, total)`` after each."""
    found = [job.id for job in where.jobs(store)]
    outcome = Retried()
    for done, job_id in enumerate(found, start=1):
        try:
            store.retry(job_id)
            outcome.retried.append(job_id)
        except JobStoreError as exc:
            outcome.skipped[job_id] = str(exc)
        if progress is not None:
            progress(done, len(found))
    return outcome
