"""huey's FileStorage driven through its storage API: enqueue / dequeue of raw
bytes. dequeue removes the message, so there is no separate done (huey has no
ack: a task dequeued by a worker that dies is lost)."""
from __future__ import annotations

from pathlib import Path

from huey.storage import FileStorage

from .base import Claimed, TextAdapter, decode


class HueyFile(TextAdapter):
    """huey FileStorage: enqueue(bytes) / dequeue(); dequeue removes, no done (no ack)."""

    name = "huey-file"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.storage = FileStorage("bench", str(path))

    def put_text(self, text: str) -> None:
        self.storage.enqueue(text.encode())

    def claim(self) -> Claimed | None:
        data = self.storage.dequeue()
        return None if data is None else Claimed(decode(data))
