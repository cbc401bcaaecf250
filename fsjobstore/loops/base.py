"""What every loop shares: threads that pull and process, wake-ups, graceful stop."""

from __future__ import annotations

import logging
import os
import signal as signals
import threading
import time
from typing import Any

from .._arguments import check_count, check_seconds
from ..interface import Store, WakeSignal
from .heartbeat import Beating

log = logging.getLogger("fsjobstore")


class Loop:
    """``concurrency`` threads, each pulling one lease at a time and processing it.

    ``run()`` blocks until ``stop()`` (or SIGTERM/SIGINT when run in the main
    thread). Stopping is graceful: no new lease is pulled, leases being
    processed get ``drain_timeout`` seconds to finish, and any still held then
    are released (their jobs go back to be pulled again, never lost).
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
        self._signals: list[WakeSignal] = []
        self._active: dict[int, Any] = {}
        self._lock = threading.Lock()

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
                signal.wait(self.poll_interval if due is None else min(self.poll_interval, due + 0.001))
                continue
            self._handle(lease)

    def run(self) -> None:
        """Run until stopped; then drain and return. (A stop() that came first wins.)
        While it runs, the loop's heartbeat record is in the store (``workers``)."""
        log.info("%s starting (pid %d)", self.describe(), os.getpid())
        with Beating(self.store, self.kind, self._tasks_pulled(), self.concurrency, self._current):
            self._run_until_stopped()
        log.info("%s stopped", self.describe())

    kind = "loop"

    def describe(self) -> str:
        """One line for the logs: what the loop does, on which store."""
        return f"{self.kind} on {self.store.location}, concurrency {self.concurrency}"

    def _tasks_pulled(self) -> frozenset[str | None] | None:
        return None

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
            while not self._stopping.wait(0.5):
                pass
            deadline = time.monotonic() + self.drain_timeout
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            with self._lock:
                stuck = list(self._active.values())
            for lease in stuck:
                log.warning("%r still running after the %s s drain timeout: releasing it", lease, self.drain_timeout)
                lease.release()
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

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signals.getsignal(sig) for sig in (signals.SIGTERM, signals.SIGINT)}

        def on_signal(signum: int, _frame: object) -> None:
            log.info("received %s: stopping after running work", signals.Signals(signum).name)
            self.stop()

        for sig in previous:
            signals.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signals.signal(sig, handler)

        return restore
