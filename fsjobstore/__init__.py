"""fsjobstore: a job store kept in a plain directory, local or shared over NFS."""

from .errors import (
    CorruptJobFile,
    InvalidJobId,
    InvalidStore,
    JobAlreadyResolved,
    JobBusy,
    JobNotFound,
    JobStoreError,
    JobTooLarge,
    LeaseLost,
)
from .handles import NotificationLease, WorkLease
from .job import Job
from .store import JobStore

__all__ = [
    "CorruptJobFile",
    "InvalidJobId",
    "InvalidStore",
    "Job",
    "JobAlreadyResolved",
    "JobBusy",
    "JobNotFound",
    "JobStore",
    "JobStoreError",
    "JobTooLarge",
    "LeaseLost",
    "NotificationLease",
    "WorkLease",
]
__version__ = "0.1.0"
