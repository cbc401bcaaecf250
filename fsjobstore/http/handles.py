"""Leases held through the server: renewed by one background thread per client store.

A lease is known lost when the server answers 410 (it gave the lease back, the
job was resolved elsewhere, or the server restarted), or when no renewal has
reached the server for the lease's whole length (the server has given it back
by then). The holder is told once through ``on_compromised``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .._arguments import check_failed_deliveries
from .._files.values import encode_json
from ..errors import LeaseLost
from ..interface import Loss, LossReason
from ..job import Job
from .api import Api
from .wire import LeaseEnded, value_to_wire

log = logging.getLogger("fsjobstore")

# After a renewal that did not reach the server, try again this soon (at most).
RETRY_SECONDS = 1.0


class _HttpLease:
    def __init__(self, api: Api, renewer: Renewer, grant: dict[str, Any],
                 on_compromised: Callable[[Any], None] | None) -> None:
        self._api = api
        self._renewer = renewer
        self._token: str = grant["token"]
        self._seconds = float(grant["lease_seconds"])
        self._job = Job.from_dict(grant["job"])
        self._on_compromised = on_compromised
        self._lock = threading.Lock()
        self._loss: Loss | None = None
        self._released = False
        self._committing = False
        self.renewed_at = time.monotonic()
        self.next_renewal = self.renewed_at + self._seconds / 3
        renewer.add(self)

    @property
    def id(self) -> str:
        return self._job.id

    @property
    def job(self) -> Job:
        return self._job

    @property
    def compromised(self) -> bool:
        return self._loss is not None

    @property
    def loss(self) -> Loss | None:
        return self._loss

    @property
    def released(self) -> bool:
        return self._released

    def _path(self, action: str) -> str:
        return f"/api/leases/{self._token}/{action}"

    def renew(self) -> None:
        """One renewal (called by the renewal thread)."""
        try:
            self._api.call("POST", self._path("renew"))
        except LeaseLost as exc:
            if not self._committing:  # (a commit in flight ends the lease and says how itself)
                self._lost(_loss(exc))
            return
        except Exception as exc:
            now = time.monotonic()
            if now - self.renewed_at >= self._seconds:
                detail = f"no renewal reached the server for {self._seconds} s: {exc}"
                self._lost(Loss(LossReason.RENEWAL_FAILED, detail))
            else:
                self.next_renewal = now + min(RETRY_SECONDS, self._seconds / 10)
            return
        self.renewed_at = time.monotonic()
        self.next_renewal = self.renewed_at + self._seconds / 3

    def _lost(self, loss: Loss) -> None:
        with self._lock:
            if self._loss is not None or self._released:
                return
            self._loss = loss
        self._renewer.remove(self)
        if self._on_compromised is not None:
            try:
                self._on_compromised(self)
            except Exception:
                log.exception("on_compromised for job %s raised", self.id)

    def _commit(self, action: str, body: dict[str, Any]) -> Any:
        """A commit through the server, fenced there; this lease is done after it."""
        if self._released:
            raise LeaseLost(f"the lease on job {self.id} was released")
        if self._loss is not None:  # known lost: nothing is sent, as a local commit checks first
            raise LeaseLost(f"the lease on job {self.id} was lost: {self._loss}")
        self._committing = True
        try:
            answer = self._api.call("POST", self._path(action), json=body)
        except LeaseLost as exc:
            self._lost(_loss(exc))
            raise
        finally:
            self._committing = False
        self._released = True
        self._renewer.remove(self)
        return answer

    def release(self) -> None:
        """Give the lease up without committing anything. Always safe, never raises."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._renewer.remove(self)
        if self._loss is None:
            try:
                self._api.call("POST", self._path("release"))
            except Exception as exc:  # the server gives it back when renewals stop anyway
                log.warning("releasing the lease on job %s: %s", self.id, exc)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        status = "released" if self.released else "compromised" if self.compromised else "held"
        return f"<{type(self).__name__} {self.id} {status}>"


class HttpWorkLease(_HttpLease):
    """The exclusive right to do one job, held through the server (see WorkHandle)."""

    @property
    def request(self) -> Any:
        return self._job.request

    @property
    def attempts(self) -> int:
        return self._job.attempts

    def fulfill(self, value: Any) -> Job:
        return Job.from_dict(self._commit("fulfill", value_to_wire(value)))

    def progress(self, value: Any) -> None:
        encode_json(value, "progress")  # TypeError here, as locally
        if self._released or self._loss is not None:
            raise LeaseLost(f"the lease on job {self.id} was {'released' if self._released else 'lost'}")
        try:
            self._api.call("POST", self._path("progress"), json={"progress": value})
        except LeaseLost as exc:
            self._lost(_loss(exc))
            raise

    def fail(self, error: str | BaseException, *, retry: bool = False, delay: float | None = None,
             attempt: bool = True, trace: str | None = None) -> Job:
        return Job.from_dict(self._commit("fail", {"error": error_text(error), "retry": retry, "delay": delay,
                                                   "attempt": attempt, "trace": trace}))


class HttpNotificationLease(_HttpLease):
    """The exclusive right to deliver one job's result, held through the server."""

    def __init__(self, api: Api, renewer: Renewer, grant: dict[str, Any],
                 on_compromised: Callable[[Any], None] | None) -> None:
        super().__init__(api, renewer, grant, on_compromised)
        self._waiting: list[Any] = list(grant.get("waiting", ()))

    @property
    def value(self) -> bytes | None:
        return self._job.value

    @property
    def waiting(self) -> list[Any]:
        return list(self._waiting)

    def done(self, delivered: Iterable[Any], *, failed: Iterable[tuple[Any, str]] = (),
             give_up_after: int | None = None, retry_in: float | None = None) -> None:
        failed = check_failed_deliveries(failed, give_up_after)
        self._commit("done", {"delivered": list(delivered), "retry_in": retry_in, "give_up_after": give_up_after,
                              "failed": [{"target": target, "error": error} for target, error in failed]})


def _loss(exc: LeaseLost) -> Loss:
    """The loss the server reported (it says why since it knows; else: the lease is gone)."""
    return Loss(exc.reason if isinstance(exc, LeaseEnded) else LossReason.REMOVED, str(exc))


def error_text(error: str | BaseException) -> str:
    """An error as the store records it: an exception as ``"Type: message"``."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    if not isinstance(error, str):
        raise TypeError(f"error must be a str or an exception, not {type(error).__name__}")
    return error


class Renewer:
    """One thread renewing every held lease of a client store when it is due."""

    def __init__(self) -> None:
        self._leases: set[_HttpLease] = set()
        self._changed = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def add(self, lease: _HttpLease) -> None:
        with self._changed:
            if self._stopped:
                raise LeaseLost("the client store is closed")
            self._leases.add(lease)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fsjobstore-http-renewer", daemon=True)
                self._thread.start()
            self._changed.notify()

    def remove(self, lease: _HttpLease) -> None:
        with self._changed:
            self._leases.discard(lease)

    def held(self) -> list[_HttpLease]:
        with self._changed:
            return list(self._leases)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopped:
                    return
                now = time.monotonic()
                due = [lease for lease in self._leases if lease.next_renewal <= now]
                if not due:
                    soonest = min((lease.next_renewal for lease in self._leases), default=None)
                    self._changed.wait(None if soonest is None else soonest - now)
                    continue
            for lease in due:
                lease.renew()
