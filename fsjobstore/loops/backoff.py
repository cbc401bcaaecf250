"""Exponential backoff between retries."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Wait ``base * factor**(n-1)`` seconds before retry *n*, at most ``limit``,
    spread by ±``jitter`` (a fraction) so that retries of many jobs do not align."""

    base: float = 1.0
    factor: float = 2.0
    limit: float = 300.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.limit < 0 or not 0 <= self.jitter < 1:
            raise ValueError(f"invalid backoff {self!r}: need base >= 0, factor >= 1, limit >= 0, 0 <= jitter < 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number *attempt* (1 for the first)."""
        seconds = min(self.limit, self.base * self.factor ** max(0, attempt - 1))
        return seconds * random.uniform(1 - self.jitter, 1 + self.jitter)
