"""Times as job files hold them: ISO 8601 UTC text, written by each host's wall
clock (informational, but for ``not_before`` and ``deadline`` given as datetimes)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

_second: tuple[int, str] = (-1, "")


def now_text() -> str:
    """The current UTC wall-clock time as ISO 8601; informational only, never compared."""
    global _second
    sec, usec = divmod(time.time_ns() // 1000, 1_000_000)
    if sec != _second[0]:
        _second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{_second[1]}.{usec:06d}Z"


def parse_time(text: str) -> datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"time {text!r} is not ISO 8601 UTC")
    return datetime.fromisoformat(text)


def time_text(timestamp: float) -> str:
    """Seconds since the epoch as the ISO 8601 UTC text the files hold (a year before
    1000 too: strftime would not pad it to the four digits the reader needs)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def after(start: datetime, delay: Any) -> datetime | None:
    """When a relative delay ends, as the writer's clock saw it (informational: the
    delay itself is judged on the filesystem's clock)."""
    if not delay:
        return None
    try:
        return start + timedelta(seconds=delay)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)
