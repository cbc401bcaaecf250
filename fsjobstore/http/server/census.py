"""Counts that need every job read: jobs per task and state, and the attempts the
jobs' histories record. For the dashboard's per-task table and /metrics; one count
serves every caller for a few seconds, since it reads the whole store."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ...job import STATES
from ...store import JobStore

# Dashboards and scrapers asking at once share one count this old at most.
CENSUS_SECONDS = 5.0
# The history outcome a lease take-over writes (docs/format.md, "history").
EXPIRED = "expired"


@dataclass
class Census:
    """What the jobs now in the store say (``""`` stands for jobs without a task)."""

    jobs: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> state -> jobs
    failed_attempts: Counter[str] = field(default_factory=Counter)  # task -> sum of jobs' attempts
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (task, outcome) -> history entries

    @classmethod
    def take(cls, store: JobStore) -> Census:
        census = cls()
        for job in store.jobs():
            task = job.task or ""
            census.jobs.setdefault(task, dict.fromkeys(STATES, 0))[job.state] += 1
            census.failed_attempts[task] += job.attempts
            for entry in job.history:
                census.outcomes[task, str(entry.get("outcome"))] += 1
        return census

    def takeovers(self) -> Counter[str]:
        return Counter({task: n for (task, outcome), n in self.outcomes.items() if outcome == EXPIRED})


class CensusCache:
    """The last census of *store*, taken again once it is CENSUS_SECONDS old."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._taken = 0.0
        self._census: Census | None = None

    def get(self) -> Census:
        with self._lock:
            if self._census is None or time.monotonic() - self._taken > CENSUS_SECONDS:
                self._census = Census.take(self._store)
                self._taken = time.monotonic()
            return self._census
