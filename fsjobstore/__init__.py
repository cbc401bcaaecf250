"""fsjobstore: a job store kept in a plain directory, local or shared over NFS."""

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
from .loops import Backoff, Notifier, Worker
from .specs import JobSpec
from .store import JobStore

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
