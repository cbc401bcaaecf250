"""The implementations of fsjobstore.interface.Store the contract suite runs against.
An implementation joins by adding a Backend here and its name to BACKENDS."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memory_store import MemoryBackend, MemoryStore

from fsjobstore import JobStore
from fsjobstore.interface import Store

LEASE = 1.0


@contextmanager
def called_later(delay: float, call: Callable[[], object]) -> Iterator[None]:
    """Make ``call`` from another thread after ``delay`` seconds, and wait for it on the
    way out: what the body waits for can happen before the call has read its own
    answer, and closing the store under it (over HTTP, its socket) would fail it."""
    timer = threading.Timer(delay, call)
    timer.start()
    try:
        yield
    finally:
        timer.join()


class Backend:
    """One store, and the ways the tests reach it: ``open`` another client (as
    another process would), ``silence`` a client (it stops renewing, as a hung one)."""

    name = "?"

    def open(self) -> Store:
        raise NotImplementedError

    def silence(self, store: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalBackend(Backend):
    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.opened: list[JobStore] = []

    def open(self) -> JobStore:
        store = JobStore(self.path, lease_seconds=LEASE, durable=False, poll_interval=0.1, create=True)
        self.opened.append(store)
        return store

    def silence(self, store: Any) -> None:
        store.context.renewer.freeze()

    def close(self) -> None:
        for store in self.opened:
            store.close()


class MemoryBackendClients(Backend):
    name = "memory"

    def __init__(self) -> None:
        self.backend = MemoryBackend()
        self.opened: list[MemoryStore] = []

    def open(self) -> MemoryStore:
        store = MemoryStore(self.backend, lease_seconds=LEASE)
        self.opened.append(store)
        return store

    def silence(self, store: Any) -> None:
        store.silenced = True

    def close(self) -> None:
        for store in self.opened:
            store.close()


class HttpBackend(Backend):
    """``fsjobstore serve`` (uvicorn on a loopback port, in this process) over a local
    store, and HttpStore clients of it."""

    name = "http"

    def __init__(self, path: Path) -> None:
        from fsjobstore.http.server import Settings, background

        self.store = JobStore(path, lease_seconds=LEASE, durable=False, create=True)
        self.server = background(self.store, Settings(token="contract", read_token=None, max_body=1 << 20,
                                                      poll_interval=0.1))
        self.url = self.server.__enter__()
        self.opened: list[Any] = []

    def open(self) -> Store:
        from fsjobstore.http.client import HttpStore

        client = HttpStore(self.url, "contract", poll_interval=0.1)
        self.opened.append(client)
        return client

    def silence(self, store: Any) -> None:
        store.renewer.stop()

    def close(self) -> None:
        for client in self.opened:
            client.close()
        self.server.__exit__(None, None, None)
        self.store.close()


def _server_installed() -> bool:
    try:
        import fastapi  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS: dict[str, type[Backend]] = {"local": LocalBackend, "memory": MemoryBackendClients}
if _server_installed():
    BACKENDS["http"] = HttpBackend


def make_backend(name: str, tmp_path: Path) -> Backend:
    if name == "memory":
        return MemoryBackendClients()
    return BACKENDS[name](tmp_path / "store")  # type: ignore[call-arg]
