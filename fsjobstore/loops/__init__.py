"""Long-running loops over a store: Worker (does jobs), Notifier (delivers
results) and Scheduler (makes periodic jobs)."""

from .backoff import Backoff
from .base import Loop, Stopped, StopRequest
from .notifier import Notifier
from .scheduler import Scheduler
from .worker import Worker

__all__ = ["Backoff", "Loop", "Notifier", "Scheduler", "StopRequest", "Stopped", "Worker"]
