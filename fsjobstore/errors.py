"""Every error fsjobstore raises on purpose; a leaf module any layer may import."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AttemptFailed",
    "CorruptJobFile",
    "DuplicateJob",
    "InvalidJobId",
    "InvalidStore",
    "JobAlreadyResolved",
    "JobBusy",
    "JobNotFound",
    "JobStateError",
    "JobStoreError",
    "JobTooLarge",
    "LeaseLost",
    "Loss",
    "LossReason",
]


class JobStoreError(Exception):
    """Base class of every error raised by fsjobstore."""


class InvalidStore(JobStoreError):
    """The store path cannot be used: not a folder, not writable, or an unknown format."""


class JobNotFound(JobStoreError, KeyError):
    """No job with this id exists in the store."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"no job with id {self.job_id!r}"


class UnknownParent(JobNotFound):
    """A job given in ``create(after=...)`` does not exist."""

    def __str__(self) -> str:
        return (f"no job with id {self.job_id!r} to wait for (after=): a job waits only for jobs that exist, "
                "so no cycle can be made")


class ScheduleNotFound(JobStoreError, KeyError):
    """No schedule of this name exists in the store."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no schedule named {self.name!r}"


class JobAlreadyResolved(JobStoreError):
    """The job was already fulfilled, failed or cancelled; nothing was changed."""

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(job_id, state)
        self.job_id = job_id
        self.state = state

    def __str__(self) -> str:
        return f"job {self.job_id!r} is already {self.state}"


class JobBusy(JobStoreError):
    """Another worker holds the job's lease, so the operation could not take it."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"job {self.job_id!r} is leased by another worker"


class LossReason(enum.Enum):
    """Why a lease was lost (``lease.loss``)."""

    TAKEN_OVER = "taken over by another holder after it expired"
    REMOVED = "its lease file is gone (taken over or removed)"
    UNREADABLE = "its lease file cannot be read"
    RENEWAL_FAILED = "its renewal failed"
    RELENGTH_FAILED = "its length could not be changed"
    RESOLVED_ELSEWHERE = "the job was cancelled or resolved elsewhere"


@dataclass(frozen=True)
class Loss:
    """A lease's loss: the reason, and what was seen (an OS error's text, say)."""

    reason: LossReason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


class LeaseLost(JobStoreError):
    """The lease expired, was taken over, or was released; the commit changed nothing."""


class InvalidJobId(JobStoreError, ValueError):
    """A job id that could name a path outside its folder, or is empty or too long."""


class JobTooLarge(JobStoreError, ValueError):
    """A request, value or target is larger than the store's configured limit."""


class CorruptJobFile(JobStoreError):
    """A file in the store cannot be parsed as what it should hold."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"corrupt file {self.path}: {self.reason}"


class JobStateError(JobStoreError):
    """The operation does not apply to the job in its current state (e.g. retry of a pending job)."""


class DuplicateJob(JobStoreError):
    """``create(key=..., on_conflict="raise")``: a job with this key exists (until it is purged)."""

    def __init__(self, key: str, job_id: str) -> None:
        super().__init__(key, job_id)
        self.key = key
        self.job_id = job_id

    def __str__(self) -> str:
        return f"job {self.job_id!r} already has the key {self.key!r}"


class AttemptFailed(Exception):
    """Raised by a handler to fail the attempt with exactly this message as the job's error.

    Any other exception is recorded as ``"Type: message"``, which says where a
    Python failure came from; this one is for failures whose message already
    says it all (a command's stderr), so nothing is prefixed. ``retry=False``
    fails the job at once, whatever attempts are left (a request that can never
    succeed). ``discard=True`` resolves it as ``discarded`` instead: the request is
    invalid, and no attempt of it is a failure. Not a JobStoreError: the store
    itself never raises it.
    """

    def __init__(self, message: str = "", *, retry: bool = True, discard: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        self.discard = discard
