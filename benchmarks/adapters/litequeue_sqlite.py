"""litequeue (SQLite underneath): put / pop / done(message_id)."""
from __future__ import annotations

from pathlib import Path

from litequeue import LiteQueue

from .base import Claimed, TextAdapter, decode


class LiteQueueAdapter(TextAdapter):
    """litequeue LiteQueue: put(text), pop(), done(message_id)."""

    name = "litequeue"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.queue = LiteQueue(str(path / "queue.db"))

    def put_text(self, text: str) -> None:
        self.queue.put(text)

    def claim(self) -> Claimed | None:
        message = self.queue.pop()
        return None if message is None else Claimed(decode(message.data), message.message_id)

    def done(self, claimed: Claimed) -> None:
        self.queue.done(claimed.handle)

    def close(self) -> None:
        self.queue.conn.close()
