"""Helpers shared by the loop tests: run a loop in a thread, wait for a condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def running(loop: Any, join_timeout: float = 10.0) -> Iterator[threading.Thread]:
    """Run loop.run() in a thread; stop it and wait for it on the way out."""
    thread = threading.Thread(target=loop.run, name="test-loop", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        loop.stop()
        thread.join(join_timeout)
    assert not thread.is_alive(), "the loop did not stop"


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
