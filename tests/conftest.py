"""Shared fixtures for the fsjobstore unit tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from invariants import FakeClock, tree

import fsjobstore._leases.clock as lease_clock
from fsjobstore import JobStore

LEASE_SECONDS = 2.0


@pytest.fixture(params=[True, False], ids=["durable", "nosync"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """A fresh store in tmp_path/store with a short lease, run durable and not."""
    opened = JobStore(tmp_path / "store", lease_seconds=LEASE_SECONDS, durable=request.param, create=True)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[..., JobStore]]:
    """A factory of JobStore objects (default: on tmp_path/store), all closed afterwards."""
    opened: list[JobStore] = []

    def make(path: str | os.PathLike[str] | None = None, **options: Any) -> JobStore:
        options.setdefault("lease_seconds", LEASE_SECONDS)
        options.setdefault("durable", False)
        options.setdefault("create", True)
        made = JobStore(tmp_path / "store" if path is None else path, **options)
        opened.append(made)
        return made

    yield make
    for made in reversed(opened):
        made.close()


@pytest.fixture
def snapshot() -> Callable[[str | os.PathLike[str]], dict[str, Any]]:
    """tree() as a fixture: snapshot(path) lists every folder and file's bytes under path."""
    return tree


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Make fsjobstore.lease read the monotonic clock from a FakeClock (and nothing else)."""
    clock = FakeClock()
    monkeypatch.setattr(lease_clock, "now", clock.monotonic)
    return clock
