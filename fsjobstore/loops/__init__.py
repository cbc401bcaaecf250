"""Long-running loops over a store: Worker (does jobs) and Notifier (delivers results)."""

from .backoff import Backoff
from .base import Loop, Stopped, StopRequest
from .notifier import Notifier
from .worker import Worker

__all__ = ["Backoff", "Loop", "Notifier", "StopRequest", "Stopped", "Worker"]
