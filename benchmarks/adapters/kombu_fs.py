"""kombu's filesystem transport: ``filesystem://`` with data_folder_in and
data_folder_out on one folder, a SimpleQueue, get + ack. Its blocking get is
drain_events, which polls the folder every ``polling_interval`` (1 s default)."""
from __future__ import annotations

from pathlib import Path

from kombu.connection import Connection

from .base import Adapter, Claimed, Job


class KombuFilesystem(Adapter):
    """kombu filesystem:// SimpleQueue (data_folder_in = out): put(dict), get, ack."""

    name = "kombu-fs"
    wake_mode = "blocking get (kombu polls every 1 s)"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        folder = path / "data"
        folder.mkdir(parents=True, exist_ok=True)
        self.conn = Connection(  # type: ignore[no-untyped-call]
            "filesystem://",
            transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder)},
        )
        self.queue = self.conn.SimpleQueue("bench")  # type: ignore[no-untyped-call]

    def put(self, job: Job) -> None:
        self.queue.put(job)

    def claim(self) -> Claimed | None:
        return self._get(block=False, timeout=None)

    def wait_claim(self, timeout: float) -> Claimed | None:
        return self._get(block=True, timeout=timeout)

    def _get(self, block: bool, timeout: float | None) -> Claimed | None:
        try:
            message = self.queue.get(block=block, timeout=timeout)
        except self.queue.Empty:
            return None
        return Claimed(message.payload, message)

    def done(self, claimed: Claimed) -> None:
        claimed.handle.ack()

    def close(self) -> None:
        self.queue.close()
        self.conn.release()  # type: ignore[no-untyped-call]
