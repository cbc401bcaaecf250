"""The one small interface every system is driven through.

A job is a ~200-byte JSON object ``{"seq": n, "t": put_time, "pad": ...}``:
``seq`` lets the workloads count jobs done twice or never, ``t`` (a
``time.monotonic()`` stamp, shared by all processes on Linux) gives wake-up
latency. Each adapter stores it the way its system's docs intend (a dict where
the system takes objects, JSON text where it takes strings or bytes).
"""
from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

Job = dict[str, Any]

PAD = "x" * 160  # makes the encoded job ~200 bytes
POLL_INTERVAL = 0.001  # the poll used where a system has no blocking get


def make_job(seq: int) -> Job:
    return {"seq": seq, "t": time.monotonic(), "pad": PAD}


def encode(job: Job) -> str:
    return json.dumps(job, separators=(",", ":"))


def decode(data: str | bytes) -> Job:
    job = json.loads(data)
    assert isinstance(job, dict)
    return job


@dataclass(frozen=True)
class Claimed:
    """A job claimed exclusively; ``handle`` is what ``done`` needs."""

    job: Job
    handle: Any = None


class Adapter(ABC):
    """put / claim / done over one folder. One instance per process."""

    name: ClassVar[str]
    #: how ``wait_claim`` waits for new work, shown in the wake-up column
    wake_mode: str = "poll 1 ms"
    #: keeps finished jobs (the claim-cost workload then adds resolved ones)
    keeps_resolved: ClassVar[bool] = False
    #: the only workloads (keys) to run this adapter in; empty = every one that takes it
    workloads: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path) -> None:
        self.path = path

    @abstractmethod
    def put(self, job: Job) -> None: ...

    @abstractmethod
    def claim(self) -> Claimed | None:
        """Claim one job exclusively, or None when nothing is available."""

    def done(self, claimed: Claimed) -> None:  # noqa: B027 - not every system has one
        """Mark a claimed job finished (a no-op where claiming removes it)."""

    def wake_by(self) -> str:
        """How this adapter's waits learned of new work (asked after they ran)."""
        return self.wake_mode

    def wait_claim(self, timeout: float) -> Claimed | None:
        """Block up to ``timeout`` s for a job; default: poll every 1 ms."""
        end = time.monotonic() + timeout
        while True:
            claimed = self.claim()
            if claimed is not None or time.monotonic() >= end:
                return claimed
            time.sleep(POLL_INTERVAL)

    def close(self) -> None:  # noqa: B027 - most systems need no closing
        """Release files, connections and threads."""


class TextAdapter(Adapter):
    """For systems that store str/bytes: the job travels as JSON text."""

    def put(self, job: Job) -> None:
        self.put_text(encode(job))

    @abstractmethod
    def put_text(self, text: str) -> None: ...
