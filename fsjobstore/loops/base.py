"""What every loop shares: threads that pull and process, wake-ups, graceful stop."""

from __future__ import annotations

import logging
import os
import signal as signals
import threading
import time
from dataclasses import dataclass
from typing import Any

from .._arguments import check_count, check_seconds
from ..interface import Store, WakeSignal
from .heartbeat import Beating

log = logging.getLogger("fsjobstore")


@dataclass(frozen=True)
class StopRequest:
    """Why a running handler should give up its job now (``Loop.stop_requested()``)."""

    reason: str
    at_once: bool = False  # a second signal: no grace period for a child process either


class Stopped(BaseException):
    """Raised by a handler that gave up its job because it was asked to: the loop
    releases the lease and counts no attempt. A BaseException, as KeyboardInterrupt,
    so that the ``except Exception`` that records failed attempts lets it through."""


class Loop:
    """``concurrency`` threads, each pulling one lease at a time and processing it.

    ``run()`` blocks until ``stop()`` (or SIGTERM/SIGINT when run in the main
    thread). Stopping is graceful: no new lease is pulled, leases being
    processed get ``drain_timeout`` seconds to finish. Then (or at once on a
    second signal, or ``abort()``) handlers still running are asked to stop
    (``stop_requested()``) and get ``abort_grace`` seconds to return; leases still
    held then are released (their jobs go back to be pulled again, never lost).
    """

    def __init__(
        self, store: Store, *, concurrency: int, poll_interval: float | None, drain_timeout: float
    ) -> None:
        self.store = store
        self.concurrency = check_count("concurrency", concurrency)
        self.poll_interval = check_seconds("poll_interval", store.poll_interval if poll_interval is None
                                           else poll_interval)
        self.drain_timeout = check_seconds("drain_timeout", drain_timeout, zero=True)
        self._stopping = threading.Event()
        self._aborting = threading.Event()
        self._at_once = threading.Event()
        self._signalled: list[int] = []  # signals on_signal noted, for the main thread to act on
        # 0 keeps a handler that never looks at stop_requested() from delaying the stop.
        self.abort_grace = 0.0
        self._signals: list[WakeSignal] = []
        self._active: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._burst = False

    # -- what subclasses provide --------------------------------------------------

    def _signal(self) -> WakeSignal:
        raise NotImplementedError

    def _pull(self) -> Any:
        raise NotImplementedError

    def _process(self, lease: Any) -> None:
        raise NotImplementedError

    def _next_due(self) -> float | None:
        """Seconds until something this loop passed over (a retry's delay) is due."""
        return None

    # -- running --------------------------------------------------------------------

    def _handle(self, lease: Any) -> None:
        me = threading.get_ident()
        with self._lock:
            self._active[me] = lease
        try:
            with lease:
                self._process(lease)
        except Stopped as stopped:
            log.warning("gave up job %s (%s); its lease is released", lease.id, stopped)
        except Exception:
            log.exception("processing %r failed", lease)
        finally:
            with self._lock:
                self._active.pop(me, None)

    def _thread_main(self, signal: WakeSignal) -> None:
        while not self._stopping.is_set():
            signal.clear()
            try:
                lease = self._pull()
            except Exception:
                log.exception("pulling from %s failed; retrying after the poll interval", self.store.location)
                lease = None
            if lease is None:
                due = self._next_due()
                if self._burst and due is None and not self._current():
                    log.info("nothing left to do: stopping (burst)")
                    self.stop()
                    return
                signal.wait(self.poll_interval if due is None else min(self.poll_interval, due + 0.001))
                continue
            self._handle(lease)

    def run(self, *, burst: bool = False) -> None:
        """Run until stopped; then drain and return. (A stop() that came first wins.)
        With *burst*, stop by itself once there is nothing to do (no job it may take,
        none held, no retry it passed over still to come), as RQ's ``--burst``.
        While it runs, the loop's heartbeat record is in the store (``workers``)."""
        self._burst = burst
        log.info("starting %s (pid %d)", self.describe(), os.getpid())
        with Beating(self.store, self.kind, self._tasks_pulled(), self.concurrency, self._current,
                     self._pausable()):
            self._run_until_stopped()
        log.info("stopped %s (pid %d)", self.describe(), os.getpid())

    kind = "loop"

    def describe(self) -> str:
        """One line for the logs: what the loop does, on which store."""
        return f"{self.kind} on {self.store.location}, concurrency {self.concurrency}"

    def _tasks_pulled(self) -> frozenset[str | None] | None:
        return None

    def _pausable(self) -> frozenset[str | None] | None:
        """The tasks whose pause stops this loop (None: any; empty: only the whole store's)."""
        return frozenset()

    def _current(self) -> list[str]:
        with self._lock:
            return [lease.id for lease in self._active.values()]

    def _run_until_stopped(self) -> None:
        restore = self._install_signal_handlers()
        threads = []
        try:
            for n in range(self.concurrency):
                signal = self._signal()
                self._signals.append(signal)
                thread = threading.Thread(target=self._thread_main, args=(signal,), name=f"{type(self).__name__}-{n}")
                thread.daemon = True
                thread.start()
                threads.append(thread)
            while not self._stopping.wait(0.1):
                self._act_on_signals()
            self._drain(threads)
        finally:
            for signal in self._signals:
                self.store.stop_signal(signal)
            self._signals.clear()
            restore()

    def stop(self) -> None:
        """Stop pulling; ``run()`` returns once running work is drained."""
        self._stopping.set()
        for signal in list(self._signals):
            signal.set()

    def abort(self, *, at_once: bool = False) -> None:
        """Stop pulling and ask running handlers to give up their jobs now
        (``stop_requested()``); *at_once* asks them to kill a child process
        without a grace period."""
        if at_once:
            self._at_once.set()
        self._aborting.set()
        self.stop()

    @property
    def stopping(self) -> bool:
        """True once stop() (or abort(), or a signal) was called."""
        return self._stopping.is_set()

    def stop_requested(self) -> StopRequest | None:
        """For a handler while it runs: why it should give up its job now, or None.

        It should when the loop is aborting, or when the lease on the job it is
        doing was lost (the job was cancelled, or taken over after the lease
        expired): nothing it returns could be committed. A handler that gives
        up raises ``Stopped``. Checking is cheap (no file is read).
        """
        if self._aborting.is_set():
            return StopRequest("the worker is stopping", at_once=self._at_once.is_set())
        with self._lock:
            lease = self._active.get(threading.get_ident())
        if lease is not None and lease.compromised:
            return StopRequest("its lease was lost: the job was cancelled, or taken over after the lease expired")
        return None

    def _drain(self, threads: list[threading.Thread]) -> None:
        """Give running work drain_timeout to finish (abort() cuts it short), then
        ask it to stop and give it abort_grace; release the leases still held."""
        self._join(threads, self.drain_timeout, until_abort=True)
        if any(thread.is_alive() for thread in threads):
            if not self._aborting.is_set():
                log.warning("work still running after the %s s drain timeout: asking it to stop", self.drain_timeout)
                self.abort()
            self._join(threads, self.abort_grace, until_abort=False)
        with self._lock:
            stuck = list(self._active.values())
        for lease in stuck:
            log.warning("%r still running after it was asked to stop: releasing it", lease)
            lease.release()

    def _act_on_signals(self) -> None:
        """In the main thread: stop at the first signal, abort at once at the next
        (the operator will not wait: a cold shutdown)."""
        while self._signalled:
            name = signals.Signals(self._signalled.pop(0)).name
            if self._stopping.is_set():
                log.warning("received %s again: stopping running work now", name)
                self.abort(at_once=True)
            else:
                log.info("received %s: stopping after running work (again to stop it now)", name)
                self.stop()

    def _join(self, threads: list[threading.Thread], timeout: float, *, until_abort: bool) -> None:
        """Wait up to *timeout* seconds for *threads* to end (or, *until_abort*, for abort())."""
        deadline = time.monotonic() + timeout
        for thread in threads:
            while thread.is_alive():
                self._act_on_signals()
                left = deadline - time.monotonic()
                if left <= 0 or (until_abort and self._aborting.is_set()):
                    return
                thread.join(min(left, 0.05))

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signals.getsignal(sig) for sig in (signals.SIGTERM, signals.SIGINT)}

        def on_signal(signum: int, _frame: object) -> None:
            # Only noted: taking a lock here (an Event's, the log's) could deadlock
            # on one the main thread held where the signal interrupted it.
            self._signalled.append(signum)

        for sig in previous:
            signals.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signals.signal(sig, handler)

        return restore

