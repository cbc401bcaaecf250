"""dirq (Directory::Queue port): QueueSimple and Queue, consumed as the dirq
docs show: walk names with first()/next(), lock(name), get(name), remove(name)."""
from __future__ import annotations

from pathlib import Path

from dirq.queue import Queue
from dirq.QueueSimple import QueueSimple

from .base import Claimed, TextAdapter, decode


class _Dirq(TextAdapter):
    queue: Queue | QueueSimple

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._walking = False

    def claim(self) -> Claimed | None:
        # Continue the current walk; at its end rescan once from first().
        name = self.queue.next() if self._walking else ""
        rescanned = False
        while True:
            if not name:
                if rescanned:
                    return None
                name, rescanned, self._walking = self.queue.first(), True, True
                continue
            if self.queue.lock(name):
                return Claimed(decode(self._body(self.queue.get(name))), name)
            name = self.queue.next()

    def done(self, claimed: Claimed) -> None:
        self.queue.remove(claimed.handle)

    def _body(self, element: object) -> str | bytes:
        assert isinstance(element, (str, bytes))
        return element


class DirqSimple(_Dirq):
    """dirq QueueSimple: add(text); walk names, lock, get; done = remove."""

    name = "dirq-simple"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.queue = QueueSimple(str(path))

    def put_text(self, text: str) -> None:
        self.queue.add(text)


class DirqQueue(_Dirq):
    """dirq Queue, schema {"body": "string"}: add; walk names, lock, get; done = remove."""

    name = "dirq-queue"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.queue = Queue(str(path), schema={"body": "string"})

    def put_text(self, text: str) -> None:
        self.queue.add({"body": text})

    def _body(self, element: object) -> str | bytes:
        assert isinstance(element, dict)
        return super()._body(element["body"])
