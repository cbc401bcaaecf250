"""The implementations of fsjobstore.interface.Store the contract suite runs against.
An implementation joins by adding a Backend here and its name to BACKENDS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memory_store import MemoryBackend, MemoryStore

from fsjobstore import JobStore
from fsjobstore.interface import Store

LEASE = 1.0


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
        store = JobStore(self.path, lease_seconds=LEASE, durable=False, poll_interval=0.1)
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


BACKENDS = {"local": LocalBackend, "memory": MemoryBackendClients}


def make_backend(name: str, tmp_path: Path) -> Backend:
    return LocalBackend(tmp_path / "store") if name == "local" else MemoryBackendClients()
