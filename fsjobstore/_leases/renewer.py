"""One background thread per store renewing every lease it holds, each when due."""

from __future__ import annotations

import logging
import math
import threading
from typing import Protocol

from . import clock
from .fork import forget_in_child

log = logging.getLogger("fsjobstore")


class Renewable(Protocol):
    """What the renewal thread needs of a lease."""

    @property
    def name(self) -> str: ...

    @property
    def renew_at(self) -> float:
        """When (monotonic) it is next due."""

    def renew(self, since: float | None = None) -> None: ...

    def release(self) -> None: ...


class Renewer:
    """One background thread renewing every lease a store holds, each when it is due."""

    def __init__(self) -> None:
        self._held: set[Renewable] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._frozen = False
        self._renewing: threading.Thread | None = None  # (`_thread` would clash with C's keyword under mypyc)
        # When the thread's current wait ends (monotonic): a lease due earlier wakes it.
        self._sleeps_until = -math.inf
        forget_in_child(self)

    def forget(self) -> None:
        self._held = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._renewing = None
        self._sleeps_until = -math.inf

    def freeze(self) -> None:
        """Stop renewing for good, still tracking the leases added: what a paused
        process looks like to others (for tests of take-over)."""
        self.stop()
        with self._lock:
            self._frozen = True

    def add(self, held: Renewable) -> None:
        with self._lock:
            self._held.add(held)
            if not self._frozen and (self._renewing is None or not self._renewing.is_alive()):
                self._stopped = False
                self._renewing = threading.Thread(target=self._run, name="fsjobstore-renewer", daemon=True)
                self._renewing.start()
        # The new lease may be due before the thread's next wake-up (its holder may
        # have beaten long ago, or be shorter than every other lease held). Only
        # then is it woken: waking it for every lease would cost a thread switch
        # per pull.
        if held.renew_at < self._sleeps_until:
            self._wake.set()

    def discard(self, held: Renewable) -> None:
        with self._lock:
            self._held.discard(held)

    @property
    def renewing(self) -> tuple[str, ...]:
        """The names of the leases being renewed now, in the order the thread meets
        them (a read-only snapshot)."""
        with self._lock:
            return tuple(lease.name for lease in self._held)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                held = list(self._held)
            now = clock.now()
            # All the due leases first: once one of a holder's leases has beaten, the
            # others no longer look due, but each must still be checked (and probed).
            for lease in [lease for lease in held if lease.renew_at <= now]:
                try:
                    lease.renew(since=now)
                except Exception:
                    log.exception("renewing lease %r failed", lease.name)
            with self._lock:
                next_due = min((lease.renew_at for lease in self._held), default=now + 1.0)
                self._sleeps_until = next_due
            self._wake.wait(max(0.0, next_due - clock.now()))
            with self._lock:
                self._sleeps_until = -math.inf  # awake: a lease added now is seen by this round
                self._wake.clear()

    def release_all(self) -> None:
        with self._lock:
            held = list(self._held)
        for lease in held:
            lease.release()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
        thread = self._renewing
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._renewing = None
