"""A running loop's heartbeat: its record in the store, rewritten every beat with the
jobs it holds and what of its work is paused, so that operators (``fsjobstore
workers``, the dashboard) see it; and a log line whenever a pause stops or frees it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from types import TracebackType

from ..errors import JobStoreError
from ..interface import Heartbeat, Pause, Store, describe_pauses

log = logging.getLogger("fsjobstore")


class Beating:
    """``with Beating(...)``: the loop's record exists, and is beaten, inside the block.

    *pausable*: the tasks a pause of which stops the loop (None: any task; empty:
    only a pause of the whole store, as for a notifier)."""

    def __init__(self, store: Store, kind: str, tasks: Collection[str | None] | None, concurrency: int,
                 current: Callable[[], list[str]], pausable: Collection[str | None] | None) -> None:
        self._store = store
        self._kind = kind
        self._tasks = tasks
        self._concurrency = concurrency
        self._current = current
        self._pausable = pausable
        self._stop = threading.Event()
        self._record: Heartbeat | None = None
        self._thread: threading.Thread | None = None
        self._paused: str | None = None

    def __enter__(self) -> Beating:
        try:
            self._record = self._store.register_worker(self._kind, self._tasks, self._concurrency)
        except OSError as exc:  # (a full disk, say: the loop works on without a record)
            log.warning("no heartbeat record for this %s: %s", self._kind, exc)
        self._look_at_pauses()  # (a loop started while paused says so at once)
        self._thread = threading.Thread(target=self._run, name=f"{self._kind}-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        record = self._record
        while not self._stop.wait(getattr(record, "beat_seconds", 1.0)):
            if record is None:
                self._look_at_pauses()
                continue
            # The beat tells the pauses, so a loop over HTTP makes one request a beat;
            # what it says is paused is what the beat before it found.
            try:
                self._judge(record.beat(self._current(), self._paused))
            except (OSError, JobStoreError) as exc:
                log.warning("heartbeat of this %s failed: %s", self._kind, exc)

    def _look_at_pauses(self) -> None:
        try:
            pauses = self._store.pauses()
        except (OSError, JobStoreError) as exc:
            log.warning("could not read the pauses of the store: %s", exc)
            return
        self._judge(pauses)

    def _judge(self, pauses: list[Pause]) -> None:
        """Keep what of the loop's work *pauses* stop, and log when that changes."""
        paused = describe_pauses(pauses, self._pausable)
        if paused != self._paused:
            if paused is None:
                log.info("resumed: this %s takes work again", self._kind)
            else:
                log.warning("paused: %s; this %s takes none of that work until it is resumed "
                            "(fsjobstore resume)", paused, self._kind)
            self._paused = paused

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
