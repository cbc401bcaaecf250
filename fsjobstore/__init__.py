"""fsjobstore: a job store kept in a plain directory, local or shared over NFS."""

from typing import TYPE_CHECKING, Any

from ._store.handles import NotificationLease, WorkLease
from .errors import (
    AttemptFailed,
    CorruptJobFile,
    DuplicateJob,
    InvalidJobId,
    InvalidStore,
    JobAlreadyResolved,
    JobBusy,
    JobNotFound,
    JobStateError,
    JobStoreError,
    JobTooLarge,
    LeaseLost,
)
from .job import Job
from .specs import JobSpec
from .store import JobStore

if TYPE_CHECKING:
    from .loops import Backoff, Notifier, Worker

__all__ = [
    "AttemptFailed",
    "Backoff",
    "CorruptJobFile",
    "DuplicateJob",
    "InvalidJobId",
    "InvalidStore",
    "Job",
    "JobAlreadyResolved",
    "JobBusy",
    "JobNotFound",
    "JobSpec",
    "JobStateError",
    "JobStore",
    "JobStoreError",
    "JobTooLarge",
    "LeaseLost",
    "NotificationLease",
    "Notifier",
    "WorkLease",
    "Worker",
]
__version__ = "0.1.0"

# Imported on first use: the loops bring threads, processes and watchdog, which a
# command that only reads the store (`fsjobstore stats`) would pay for at each start.
_LOOPS = ("Backoff", "Notifier", "Worker")


def __getattr__(name: str) -> Any:
    if name in _LOOPS:
        from . import loops

        return getattr(loops, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
