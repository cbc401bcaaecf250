"""The census of /metrics (jobs per task and state, and the attempts the jobs and
their histories record): ``JobStore.census``, which reads only the records that
changed since it was last taken; one count serves every caller for a while all
the same, since the first on a big store reads every unresolved record."""

from __future__ import annotations

import threading
import time

from ...store import JobStore
from ...views import Census

# Scrapers asking at once share one count this old at most...
CENSUS_SECONDS = 5.0
# ... or, where a count takes long (the first on a store of many unresolved jobs
# reads each of their records), as many times as long as the last count took: a
# scraper then keeps a server reading the store a tenth of the time, not always.
CENSUS_COST_FACTOR = 10.0


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
                self._census = self._store.census()
                self._taken = time.monotonic()
                self._took = self._taken - started
            return self._census
