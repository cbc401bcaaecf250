"""benchmarks/adapters/fsjs.py: how the wake-up columns name fsjobstore's wait."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.adapters.fsjs import FsJobStore, FsJobStorePolling
from fsjobstore._files import wakeup


def test_a_watching_store_is_shown_woken_by_watchdog(tmp_path: Path) -> None:
    adapter = FsJobStore(tmp_path / "store")
    try:
        assert adapter.wait_claim(0.01) is None  # starts the watch
        assert adapter.wake_by() == "watchdog + 1 s poll"
    finally:
        adapter.close()


def test_a_store_that_could_not_watch_is_shown_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = wakeup.Watcher()
    broken.give_up("inotify instance limit reached")
    monkeypatch.setattr(wakeup, "watcher", broken)
    adapter = FsJobStore(tmp_path / "store")
    try:
        assert adapter.wait_claim(0.01) is None
        assert adapter.wake_by() == "polling every 1000 ms (watchdog failed: inotify instance limit reached)"
    finally:
        adapter.close()


def test_a_polling_store_is_shown_polling(tmp_path: Path) -> None:
    adapter = FsJobStorePolling(tmp_path / "store")
    try:
        assert adapter.wake_by() == "polling every 50 ms"
    finally:
        adapter.close()
