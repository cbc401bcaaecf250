"""One adapter per system, loaded lazily so a missing peer is only skipped."""
from __future__ import annotations

import importlib

from .base import Adapter, Claimed, Job, make_job

__all__ = ["Adapter", "Claimed", "Job", "REGISTRY", "load", "make_job"]

#: name -> (module in this package, class, what to install when it is missing)
REGISTRY: dict[str, tuple[str, str, str]] = {
    "fsjobstore": ("fsjs", "FsJobStore", "pip install -e ."),
    "fsjobstore-nondurable": ("fsjs", "FsJobStoreNonDurable", "pip install -e ."),
    "fsjobstore-polling": ("fsjs", "FsJobStorePolling", "pip install -e ."),
    "raw-floor": ("raw_floor", "RawFloor", ""),
    "dirq-simple": ("dirq_queues", "DirqSimple", "pip install dirq"),
    "dirq-queue": ("dirq_queues", "DirqQueue", "pip install dirq"),
    "huey-file": ("huey_file", "HueyFile", "pip install huey"),
    "kombu-fs": ("kombu_fs", "KombuFilesystem", "pip install kombu"),
    "persistqueue-file": ("persist_queue", "PersistFileQueue", "pip install persist-queue"),
    "persistqueue-sqlack": ("persist_queue", "PersistSQLiteAck", "pip install persist-queue"),
    "diskcache-deque": ("diskcache_deque", "DiskcacheDeque", "pip install diskcache"),
    "litequeue": ("litequeue_sqlite", "LiteQueueAdapter", "pip install litequeue"),
}


def load(names: list[str]) -> tuple[list[type[Adapter]], dict[str, str]]:
    """Import the named adapters; return them and {name: reason} for the skipped."""
    loaded: list[type[Adapter]] = []
    skipped: dict[str, str] = {}
    for name in names:
        module, cls, hint = REGISTRY[name]
        try:
            adapter = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
        except Exception as exc:  # ImportError, or a half-written package
            skipped[name] = f"{type(exc).__name__}: {exc}" + (f" ({hint})" if hint else "")
            continue
        loaded.append(adapter)
    return loaded, skipped
