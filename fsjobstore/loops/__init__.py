"""Long-running loops over a store: Worker (does jobs) and Notifier (delivers results)."""

from .backoff import Backoff
from .notifier import Notifier
from .worker import Worker

__all__ = ["Backoff", "Notifier", "Worker"]
