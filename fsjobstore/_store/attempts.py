"""The entries of a job's attempt history: one a holder in this process ends, and one
whose holder stopped renewing (as its holder record tells it)."""

from __future__ import annotations

import os
import socket
from typing import Any

from .._files.records import Record
from .._files.times import now_text
from .handles import WorkLease
from .holdings import holder_of

EXPIRED_ERROR = "lease expired: its holder stopped renewing it"
HOST = socket.gethostname()


# This process's id for the attempt history, asked once (a system call) and again
# after a fork. (A module global, not a class attribute: mypyc refuses a class
# attribute read through its class.)
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def lease_attempt(lease: WorkLease, outcome: str, error: str | None, trace: str | None) -> dict[str, Any]:
    """The history entry of the attempt a holder of *lease* in this process ends now."""
    return {"attempt": lease.record.attempts + 1, "host": HOST, "pid": _pid, "started_at": lease.started_at,
            "ended_at": now_text(), "outcome": outcome, "error": error, "traceback": trace}


def expired_attempt(record: Record, holder_record: bytes) -> dict[str, Any]:
    """The history entry of an attempt whose holder stopped renewing, as its holder
    record told it (host and pid; when it started is not known)."""
    host, pid = holder_of(holder_record)
    return {"attempt": record.attempts + 1, "host": host, "pid": pid, "started_at": None, "ended_at": now_text(),
            "outcome": "expired", "error": EXPIRED_ERROR, "traceback": None}
