"""A batch of jobs as ``create --many`` reads it: one JSON object per line, the body
``POST /api/jobs`` takes (without ``id``), so that a file serves both."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from ..specs import JobSpec
from .base import fail_with, json_arg

# A line's fields, and the JobSpec option each sets (delay and deadline_in in seconds
# from now; not_before and deadline as times with a zone).
FIELDS = {"request": None, "task": "task", "resource": "resource", "delay": "not_before",
          "not_before": "not_before", "expires_in": "expires_in", "lease_seconds": "lease_seconds", "key": "key",
          "on_conflict": "on_conflict", "labels": "labels", "priority": "priority", "deadline": "deadline",
          "deadline_in": "deadline"}
_TIMES = ("not_before", "deadline")


class Batch:
    """The specs read from a file, and the line each came from (blank lines are skipped)."""

    def __init__(self, source: IO[str], name: str) -> None:
        self.name = name
        self.specs: list[JobSpec] = []
        self.lines: list[int] = []
        for number, line in enumerate(source, start=1):
            if line.strip():
                self.specs.append(self._spec(json_arg(line, f"line {number} of {name}"), number))
                self.lines.append(number)

    def _spec(self, fields: Any, number: int) -> JobSpec:
        where = f"line {number} of {self.name}"
        unknown = sorted(set(fields) - set(FIELDS)) if isinstance(fields, dict) else []
        if unknown:
            fail_with(f"{where}: no field {', '.join(unknown)} (a line has: {', '.join(FIELDS)})")
        if not isinstance(fields, dict) or "request" not in fields:
            fail_with(f'{where}: not a JSON object with the job\'s "request" (and options: {", ".join(FIELDS)})')
        options: dict[str, Any] = {}
        given: dict[str, str] = {}  # option -> the field that set it
        for field, option in FIELDS.items():
            value = fields.get(field)
            if option is None or value is None:
                continue
            if option in given:
                fail_with(f"{where}: give {given[option]} or {field}, not both")
            given[option] = field
            options[option] = _time(value, where, field) if field in _TIMES else value
        return JobSpec(fields["request"], **options)

    @contextmanager
    def naming_lines(self) -> Iterator[None]:
        """An error about ``requests[i]`` of the batch, told as the line it came from."""
        try:
            yield
        except (TypeError, ValueError) as exc:
            found = re.match(r"requests\[(\d+)\]: ", str(exc))
            if found is None:
                raise
            line = self.lines[int(found.group(1))]
            fail_with(f"line {line} of {self.name}: {str(exc)[found.end():]}")


def _time(value: Any, where: str, field: str) -> datetime:
    """A time with a zone, as ISO 8601 text."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        fail_with(f"{where}: {field} must be a time with a zone, like 2030-01-01T00:00:00Z, not {value!r}")
    return when
