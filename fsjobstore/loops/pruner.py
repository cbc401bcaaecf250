"""Pruner: purges a store's history now and then, beside a worker.

The store's retention (a week unless the store object is given another) only
takes effect when something purges; a worker does it every ``purge_every``
seconds, starting at a random point of its first interval so that many workers
started together do not purge together. Two purging at once is safe (each job is
removed under its work lease) and cheap (a purge reads no record of a bucket whose
summary says nothing in it is past its time).
"""

from __future__ import annotations

import logging
import random
import threading

from .._arguments import check_seconds
from ..interface import Store

log = logging.getLogger("fsjobstore")

PURGE_EVERY = 3600.0


class Pruner:
    def __init__(self, store: Store, every: float) -> None:
        self.store = store
        self.every = check_seconds("purge_every", every)
        self._stopping = threading.Event()

    def run(self) -> None:
        """Purge every ``every`` seconds until stopped; a failed purge is logged and
        tried again at the next interval."""
        wait = random.uniform(0.0, self.every)
        while not self._stopping.wait(wait):
            wait = self.every
            try:
                removed = self.store.purge()
            except Exception as exc:  # (a store over HTTP with a token that may not purge, a full disk...)
                log.warning("purging %s failed (%s); trying again in %.0f s", self.store.location, exc, self.every)
                continue
            if removed:
                log.info("purged %d resolved jobs past their retention from %s", removed, self.store.location)

    def stop(self) -> None:
        self._stopping.set()
