"""Scheduler: makes the due ticks of a store's schedules as jobs, on any number of hosts.

No leader: every tick is a job with an id derived from its schedule and time,
published create-if-absent, so schedulers running side by side (or one that
crashed mid-pass and its replacement) make each tick once.
"""

from __future__ import annotations

import threading
from typing import Any

from ..interface import Store, TickMaker, WakeSignal
from .base import Loop


class Scheduler(Loop):
    """Make the due ticks of *store*'s schedules (a local store: ``JobStore``), then
    sleep until the next tick, or ``poll_interval`` at most (to see schedules added
    on other hosts). ``run(burst=True)`` makes what is due once and returns."""

    kind = "scheduler"

    def __init__(self, store: Store, *, poll_interval: float | None = None) -> None:
        super().__init__(store, concurrency=1, poll_interval=poll_interval, drain_timeout=0.0)
        schedules = getattr(store, "schedules", None)
        if not isinstance(schedules, TickMaker):
            raise TypeError(f"schedules live in a store's folder: {store.location} has none (use a JobStore)")
        self._schedules = schedules
        self._next: float | None = None

    def describe(self) -> str:
        return f"scheduler on {self.store.location}"

    def _signal(self) -> WakeSignal:
        return threading.Event()

    def _pull(self) -> Any:
        self._next = None
        self._next = self._schedules.make_due_ticks()
        return None

    def _next_due(self) -> float | None:
        return None if self._burst else self._next
