"""When a schedule ticks: cron expressions in a time zone, and fixed intervals.

Written here rather than taken from croniter or similar: the parsing is 60 lines,
and what matters most (which local times a DST change skips or repeats) must be
stated in docs/format.md, which is easier for code we own. A tick is a whole
number of milliseconds since the epoch (UTC), so every process computes the same
ones and a tick names a job exactly.

* ``Cron``: five fields (minute, hour, day of month, month, day of week) with
  ``*``, lists, ranges, steps and names (``jan``, ``mon``), or a macro
  (``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly``,
  ``@yearly``/``@annually``). When both day fields are restricted a day matching
  either runs (as Vixie cron). Times are local to the zone: a local time that a
  DST change skips has no tick that day; one it repeats ticks once, at its first
  occurrence.
* ``Every``: every N milliseconds, aligned to the Unix epoch (``every 1h`` ticks
  on the hour, UTC), so no zone and no start time is needed to agree.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {name: n for n, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DAYS = {name: n for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, lowest, highest, names): day of week 7 is Sunday too.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
# The longest run of days without a match of a valid expression: Feb 29 on a
# given weekday recurs within 28 years (40 covers the skipped leap year of 2100).
_SEARCH_DAYS = 40 * 366


def zone(name: str) -> ZoneInfo:
    """The time zone *name* (an IANA name such as ``Europe/Paris``); ValueError naming it if unknown."""
    # (Imported here: a process that makes no tick, such as `fsjobstore stats`, need not load it.)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Paris): {exc}") from None


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()

    def number(word: str) -> int:
        value = names.get(word.lower()) if not word.isdigit() else int(word)
        if value is None or not low <= value <= high:
            raise ValueError(f"cron {name} {word!r} is not a number from {low} to {high}"
                             + (f" or a name like {next(iter(names))}" if names else ""))
        return value

    for part in text.split(","):
        spread, _, step_text = part.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"cron {name} step {step_text!r} is not a positive number")
        step = int(step_text) if step_text else 1
        if spread == "*":
            first, last = low, high
        elif "-" in spread:
            first, last = (number(word) for word in spread.split("-", 1))
            if first > last:
                raise ValueError(f"cron {name} range {spread!r} runs backwards")
        else:
            first = number(spread)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


class Cron:
    """A cron expression in a time zone."""

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        text = _MACROS.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"cron expression {expression!r} has {len(parts)} fields; it needs 5 "
                             "(minute hour day-of-month month day-of-week) or a macro like @daily")
        self.expression = expression
        self.zone = zone(timezone)
        fields = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
        self.minutes, self.hours, self.days, self.months = (sorted(values) for values in fields[:4])
        self.weekdays = frozenset(day % 7 for day in fields[4])
        self._any_day, self._any_weekday = parts[2].startswith("*"), parts[4].startswith("*")
        if self._any_weekday and all(min(self.days) > calendar.monthrange(2024, month)[1]
                                     for month in self.months):
            raise ValueError(f"cron expression {expression!r} never matches: no such day in those months")

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month, in_week = day.day in self.days, (day.weekday() + 1) % 7 in self.weekdays
        if self._any_day or self._any_weekday:
            return in_month and in_week
        return in_month or in_week

    def _ticks(self, start: datetime, forward: bool) -> Iterator[int]:
        """Every tick from the local minute of *start* on (or back), in order."""
        step = timedelta(days=1 if forward else -1)
        day, first = start.date(), True
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for hour in self.hours if forward else reversed(self.hours):
                    if first and (hour < start.hour if forward else hour > start.hour):
                        continue
                    for minute in self.minutes if forward else reversed(self.minutes):
                        if first and hour == start.hour and (minute < start.minute if forward
                                                             else minute > start.minute):
                            continue
                        tick = self._local_ms(datetime(day.year, day.month, day.day, hour, minute))
                        if tick is not None:
                            yield tick
            day, first = day + step, False

    def _local_ms(self, naive: datetime) -> int | None:
        """The first instant the zone's clocks showed *naive*; None if they never did."""
        aware = naive.replace(tzinfo=self.zone, fold=0)
        if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            return None
        return int(aware.timestamp()) * 1000

    def after(self, ms: int) -> int:
        """The first tick later than *ms*."""
        start = datetime.fromtimestamp(ms // 1000, self.zone).replace(tzinfo=None)
        return next(tick for tick in self._ticks(start, True) if tick > ms)

    def at_or_before(self, ms: int) -> int | None:
        """The last tick at or before *ms* (None: none in the search window)."""
        start = datetime.fromtimestamp(ms // 1000, self.zone).replace(tzinfo=None)
        return next((tick for tick in self._ticks(start, False) if tick <= ms), None)


class Every:
    """A fixed interval, aligned to the Unix epoch."""

    def __init__(self, ms: int) -> None:
        if ms < 1000:
            raise ValueError(f"a schedule's interval must be at least 1 second, not {ms / 1000:g} s")
        self.ms = ms

    def after(self, ms: int) -> int:
        return (ms // self.ms + 1) * self.ms

    def at_or_before(self, ms: int) -> int | None:
        return ms // self.ms * self.ms
