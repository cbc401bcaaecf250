"""What a job made with ``create(after=[...])`` reads of the jobs it waited for, over
any store (local, remote, in memory): a handler gets its job, and the store it was
made in."""

from __future__ import annotations

from typing import Any

from .errors import JobStateError
from .interface import Store
from .job import FULFILLED, Job


def parents(store: Store, job: Job) -> list[Job]:
    """The jobs *job* waited for, in the order of its ``after``, as they are now
    (JobNotFound for one deleted since: a purge keeps parents while a dependant is
    still to run)."""
    return [store.get(parent) for parent in job.after]


def parent_values(store: Store, job: Job) -> list[Any]:
    """The results of *job*'s parents, in the order of its ``after`` (each as
    ``Job.result``). JobStateError for a parent not fulfilled, which only a job made
    with ``on_parent_failure="run"`` may have: read ``parents()`` for those."""
    found = parents(store, job)
    for parent in found:
        if parent.state != FULFILLED:
            raise JobStateError(f"parent {parent.id} of job {job.id} is {parent.state}: it has no value "
                                "(parents() tells each one's state)")
    return [parent.result for parent in found]
