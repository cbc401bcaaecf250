"""UTC wall-clock times as job files hold them (ISO 8601, microseconds, ``Z``):
informational only, never compared between hosts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_second: tuple[int, str] = (-1, "")


def now_text() -> str:
    """The current UTC wall-clock time as ISO 8601; informational only, never compared."""
    global _second
    sec, usec = divmod(time.time_ns() // 1000, 1_000_000)
    if sec != _second[0]:
        _second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    # (six digits as those of 10**6 + usec: a format spec costs a fifth of this call more)
    return f"{_second[1]}.{str(1_000_000 + usec)[1:]}Z"


def parse_time(text: str) -> datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"time {text!r} is not ISO 8601 UTC")
    return datetime.fromisoformat(text)


def time_text(timestamp: float) -> str:
    """Seconds since the epoch as the ISO 8601 UTC text the files hold (a year before
    1000 too: strftime would not pad it to the four digits the reader needs)."""
    text: str = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")
