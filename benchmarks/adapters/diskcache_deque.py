"""diskcache's Deque (SQLite underneath): append / popleft. popleft removes the
item, so there is no separate done and a consumer that dies loses it."""
from __future__ import annotations

from pathlib import Path

from diskcache import Deque

from .base import Claimed, TextAdapter, decode


class DiskcacheDeque(TextAdapter):
    """diskcache Deque: append(text) / popleft(); popleft removes, no done (no ack)."""

    name = "diskcache-deque"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.deque = Deque(directory=str(path))

    def put_text(self, text: str) -> None:
        self.deque.append(text)

    def claim(self) -> Claimed | None:
        try:
            return Claimed(decode(self.deque.popleft()))
        except IndexError:
            return None

    def close(self) -> None:
        self.deque.cache.close()
