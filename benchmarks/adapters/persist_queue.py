"""persist-queue: the file-based Queue (get + task_done) and SQLiteAckQueue
(get + ack). Both blocking gets wait on an in-process threading primitive, so
they never hear of a put made by another process (SQLiteAckQueue rechecks
every 10 s): a consumer in another process has to poll."""
from __future__ import annotations

from pathlib import Path

from persistqueue import Queue, SQLiteAckQueue
from persistqueue.exceptions import Empty

from .base import Adapter, Claimed, Job


class _PersistQueue(Adapter):
    queue: Queue | SQLiteAckQueue
    wake_mode = "poll 1 ms (blocking get is in-process only)"

    def put(self, job: Job) -> None:
        self.queue.put(job)

    def claim(self) -> Claimed | None:
        try:
            return Claimed(self.queue.get(block=False))
        except Empty:
            return None


class PersistFileQueue(_PersistQueue):
    """persist-queue Queue (files + info pointer): put(dict), get, task_done."""

    name = "persistqueue-file"
    queue: Queue

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.queue = Queue(str(path))

    def done(self, claimed: Claimed) -> None:
        self.queue.task_done()


class PersistSQLiteAck(_PersistQueue):
    """persist-queue SQLiteAckQueue: put(dict), get, ack(item)."""

    name = "persistqueue-sqlack"
    queue: SQLiteAckQueue

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.queue = SQLiteAckQueue(str(path))

    def claim(self) -> Claimed | None:
        claimed = super().claim()
        # ack(item) looks the item up by identity, so hand the same object over
        return None if claimed is None else Claimed(claimed.job, claimed.job)

    def done(self, claimed: Claimed) -> None:
        self.queue.ack(claimed.handle)

    def close(self) -> None:
        self.queue.close()
