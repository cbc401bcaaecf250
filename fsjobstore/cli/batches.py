"""A batch of jobs as ``create --many`` reads it: one JSON object per line, the body
``POST /api/jobs`` takes (without ``id``), so that a file serves both."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any, NoReturn

from .._arguments import check_seconds
from ..errors import UnknownParent
from ..specs import JobSpec
from .base import fail_with, fail_with_all, parse_json

# A line's fields, and the JobSpec option each sets (delay and deadline_in in seconds
# from now; not_before and deadline as times with a zone).
FIELDS = {"request": None, "task": "task", "resource": "resource", "delay": "not_before",
          "not_before": "not_before", "expires_in": "expires_in", "lease_seconds": "lease_seconds", "key": "key",
          "on_conflict": "on_conflict", "labels": "labels", "priority": "priority", "deadline": "deadline",
          "deadline_in": "deadline", "after": "after", "on_parent_failure": "on_parent_failure"}
_TIMES = ("not_before", "deadline")
# Fields checked here because the option they set has another name (the store's
# error would name it): whether zero seconds is allowed.
_SECONDS = {"delay": True, "deadline_in": False}
# The bad lines one run names: enough to fix a file in one go, not screens of one mistake repeated.
MAX_REPORTED = 20


class Batch:
    """The specs read from a file, and the line each came from (blank lines are
    skipped). Every line is read before any is refused: the error names each bad
    line (up to MAX_REPORTED), by its number in the file."""

    def __init__(self, source: IO[str], name: str) -> None:
        self.name = name
        self.specs: list[JobSpec] = []
        self.lines: list[int] = []
        problems = []
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                self.specs.append(self._spec(parse_json(line, self._where(number)), number))
                self.lines.append(number)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            _refuse(problems, name)

    def _where(self, number: int) -> str:
        return f"line {number} of {self.name}"

    def _spec(self, fields: Any, number: int) -> JobSpec:
        where = self._where(number)
        if isinstance(fields, dict) and "id" in fields:
            raise ValueError(f"{where}: no field id: --many lets the store pick each job's id")
        unknown = sorted(set(fields) - set(FIELDS)) if isinstance(fields, dict) else []
        if unknown:
            raise ValueError(f"{where}: no field {', '.join(unknown)} (a line has: {', '.join(FIELDS)})")
        if not isinstance(fields, dict) or "request" not in fields:
            raise ValueError(f'{where}: not a JSON object with the job\'s "request" (and options: '
                             f'{", ".join(FIELDS)})')
        options: dict[str, Any] = {}
        given: dict[str, str] = {}  # option -> the field that set it
        for field, option in FIELDS.items():
            value = fields.get(field)
            if option is None or value is None:
                continue
            if option in given:
                raise ValueError(f"{where}: give {given[option]} or {field}, not both")
            given[option] = field
            try:
                if field in _SECONDS:
                    check_seconds(field, value, zero=_SECONDS[field])
                options[option] = _time(value, field) if field in _TIMES else value
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        return JobSpec(fields["request"], **options)

    @contextmanager
    def naming_lines(self) -> Iterator[None]:
        """An error about ``requests[i]`` of the batch, told as the line it came from."""
        try:
            yield
        except UnknownParent as exc:
            lines = [str(number) for spec, number in zip(self.specs, self.lines, strict=True)
                     if exc.job_id in (spec.after or ())]
            fail_with(f"line{'s' * (len(lines) > 1)} {', '.join(lines)} of {self.name}: {exc}")
        except (TypeError, ValueError) as exc:
            found = re.match(r"requests\[(\d+)\]: ", str(exc))
            if found is None:
                raise
            rest = re.sub(r"requests\[(\d+)\]", lambda item: f"line {self.lines[int(item[1])]}", str(exc)[found.end():])
            fail_with(f"{self._where(self.lines[int(found[1])])}: {rest}")


def _refuse(problems: list[str], name: str) -> NoReturn:
    if len(problems) == 1:
        fail_with(problems[0])
    shown = f", the first {MAX_REPORTED} named above" if len(problems) > MAX_REPORTED else ""
    fail_with_all([*problems[:MAX_REPORTED], f"{len(problems)} bad lines in {name}{shown}: no job was made"])


def _time(value: Any, field: str) -> datetime:
    """A time with a zone, as ISO 8601 text."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"{field} must be a time with a zone, like 2030-01-01T00:00:00Z, not {value!r}")
    return when
