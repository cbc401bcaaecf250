"""A running loop's heartbeat: its record in the store, rewritten every beat with the
jobs it holds, so that operators (``fsjobstore workers``, the dashboard) see it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from types import TracebackType

from ..interface import Heartbeat, Store

log = logging.getLogger("fsjobstore")


class Beating:
    """``with Beating(...)``: the loop's record exists, and is beaten, inside the block."""

    def __init__(self, store: Store, kind: str, tasks: Collection[str | None] | None, concurrency: int,
                 current: Callable[[], list[str]]) -> None:
        self._store = store
        self._kind = kind
        self._tasks = tasks
        self._concurrency = concurrency
        self._current = current
        self._stop = threading.Event()
        self._record: Heartbeat | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Beating:
        try:
            self._record = self._store.register_worker(self._kind, self._tasks, self._concurrency)
        except OSError as exc:  # (a full disk, say: the loop works on without a record)
            log.warning("no heartbeat record for this %s: %s", self._kind, exc)
            return self
        self._thread = threading.Thread(target=self._run, name=f"{self._kind}-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        record = self._record
        assert record is not None
        while not self._stop.wait(getattr(record, "beat_seconds", 1.0)):
            try:
                record.beat(self._current())
            except OSError as exc:
                log.warning("heartbeat of this %s failed: %s", self._kind, exc)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._record is not None:
            try:
                self._record.close()
            except OSError as error:
                log.warning("could not remove the heartbeat record of this %s: %s", self._kind, error)
