"""Waking idle loops early when a watched folder changes on this host.

watchdog (inotify on Linux) is a latency shortcut, never the source of truth:
inotify does not see other NFS clients' writes, drops events when its queue
overflows, and runs out of instances (EMFILE) or watches (ENOSPC). So a loop
always waits with a timeout (its poll interval, with jitter) and rescans after
every wake-up, event or not. If watching cannot start, loops poll and the reason
is logged once.

One watchdog observer (one inotify instance, one thread) serves the whole
process, however many stores and loops it has.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections import defaultdict

log = logging.getLogger("fsjobstore")

#: Kinds of change that can make work or a result appear in a folder.
APPEARED = frozenset({"created", "moved"})
#: Kinds of change that can free something (a lease released).
VANISHED = frozenset({"deleted", "moved"})


class Signal:
    """An event a loop waits on; set by the watcher, or by nothing (then it polls)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        """Call before rescanning, so a change during the scan still wakes the next wait."""
        self._event.clear()

    def wait(self, timeout: float) -> bool:
        """Wait up to *timeout* (jittered by ±20%); True if woken by a change."""
        return self._event.wait(timeout * random.uniform(0.8, 1.2))


class Watcher:
    """The process-wide observer, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._observer: object | None = None
        self._failed: str | None = None
        # folder -> [(kinds of change, signal)]
        self._listeners: dict[str, list[tuple[frozenset[str], Signal]]] = defaultdict(list)
        self._watched: dict[tuple[str, bool], object] = {}

    def listen(self, folder: str, kinds: frozenset[str], signal: Signal, *, recursive: bool = False) -> bool:
        """Set *signal* on changes of *kinds* in *folder* (*recursive*: and in its
        subfolders, those made later too); False if only polling works."""
        folder = os.path.realpath(folder)
        with self._lock:
            if self._failed is not None:
                return False
            try:
                self._ensure_watch(folder, recursive)
            except OSError as exc:
                self.give_up(f"{exc}")
                log.warning("cannot watch %s (%s); loops fall back to polling", folder, exc)
                return False
            self._listeners[folder].append((kinds, signal))
            return True

    @property
    def failure(self) -> str | None:
        """Why watching could not start (loops then poll), or None."""
        return self._failed

    def stop(self) -> None:
        """Stop the observer thread, if it started (a watcher made for a test)."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()  # type: ignore[attr-defined]
            observer.join(5)  # type: ignore[attr-defined]

    def give_up(self, reason: str) -> None:
        """Watch nothing more, for *reason* (inotify out of instances, say)."""
        self._failed = reason

    def forget(self, signal: object) -> None:
        with self._lock:
            for listeners in self._listeners.values():
                listeners[:] = [entry for entry in listeners if entry[1] is not signal]

    def _ensure_watch(self, folder: str, recursive: bool) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        if self._observer is None:
            observer = Observer()
            observer.daemon = True
            observer.start()
            self._observer = observer
        if (folder, recursive) in self._watched:
            return
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                watcher._dispatch(folder, getattr(event, "event_type", ""))

        self._watched[folder, recursive] = self._observer.schedule(  # type: ignore[attr-defined]
            Handler(), folder, recursive=recursive)

    def _dispatch(self, folder: str, kind: str) -> None:
        for kinds, signal in list(self._listeners.get(folder, ())):
            if kind in kinds:
                signal.set()


#: The process-wide watcher every signal of this process is set by.
watcher = Watcher()


def watch(folders: dict[str, frozenset[str]], enabled: bool = True, *,
          recursive: frozenset[str] = frozenset()) -> Signal:
    """A signal set on the given changes in any of *folders* (never set if not
    *enabled*); in the subfolders too of those in *recursive* (the parents of
    pending buckets)."""
    signal = Signal()
    if enabled:
        for folder, kinds in folders.items():
            if not watcher.listen(folder, kinds, signal, recursive=folder in recursive):
                break
    return signal


def unwatch(signal: object) -> None:
    """Stop setting *signal* (a no-op for one this module did not make)."""
    watcher.forget(signal)


def watch_failure() -> str | None:
    """Why watching could not start in this process (loops then poll), or None."""
    return watcher.failure
