"""Counts that need every job read: jobs per task and state, and the attempts the
jobs' histories record, for /metrics; one count serves every caller for a while,
since it reads the whole store."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ...job import STATES
from ...store import JobStore

# Scrapers asking at once share one count this old at most...
CENSUS_SECONDS = 5.0
# ... or, on a store so large that a count takes long, as many times as long as the
# last count took: a scraper then keeps a server reading the store a tenth of the
# time, not always (200,000 jobs take tens of seconds to read).
CENSUS_COST_FACTOR = 10.0
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


def fresh_for(took: float) -> float:
    """How long a census that took *took* seconds to count is served before the next."""
    return max(CENSUS_SECONDS, CENSUS_COST_FACTOR * took)


class CensusCache:
    """The last census of *store*, taken again once it is ``fresh_for`` its cost old."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._taken = 0.0
        self._took = 0.0
        self._census: Census | None = None

    def get(self) -> Census:
        with self._lock:
            if self._census is None or time.monotonic() - self._taken > fresh_for(self._took):
                started = time.monotonic()
                self._census = Census.take(self._store)
                self._taken = time.monotonic()
                self._took = self._taken - started
            return self._census
