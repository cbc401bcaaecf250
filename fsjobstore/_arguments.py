"""Checks of user-given arguments (numbers, names), shared by every layer and every
store of the interface: one wording for each mistake."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def check_seconds(name: str, value: object, *, zero: bool = False) -> float:
    """*value* as seconds: a finite number above zero (or at least zero if *zero*)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value < 0 if zero else value <= 0):  # type: ignore[operator]
        bound = "zero or more" if zero else "a positive number of"
        raise ValueError(f"{name} must be {bound} seconds, not {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_count(name: str, value: object) -> int:
    """*value* as a count: an integer of at least one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def check_failed_deliveries(failed: Iterable[tuple[Any, str]], give_up_after: int | None) -> list[tuple[Any, str]]:
    """A notification's ``done(failed=..., give_up_after=...)``, checked before anything is written."""
    if give_up_after is not None:
        check_count("give_up_after", give_up_after)
    failed = list(failed)
    for _, error in failed:
        if not isinstance(error, str):
            raise TypeError(f"a failed delivery's error must be a str, not {type(error).__name__}")
    return failed


# The most jobs a concurrency limit may let run at once: each is a slot a busy puller may try.
MAX_LIMIT = 1000


def check_name(what: str, value: object, none: str) -> None:
    """*value* is None (meaning *none*) or a non-empty string: a task or resource."""
    if value is not None and (not isinstance(value, str) or not value):
        raise TypeError(f"{what} must be a non-empty string (or None: {none}), not {value!r}")


def check_limit(limit: object, resource: object, task: object) -> tuple[str, str]:
    """What a concurrency limit is set on, ("resource" or "task", its name), once
    *limit* is checked (None, or a count up to MAX_LIMIT)."""
    check_name("resource", resource, "give a task")
    check_name("task", task, "give a resource")
    if (resource is None) == (task is None):
        raise TypeError("a limit is set on a resource or on a task: give one of the two")
    if limit is not None and check_count("limit", limit) > MAX_LIMIT:
        raise ValueError(f"limit must be at most {MAX_LIMIT}, not {limit!r}")
    return ("resource", str(resource)) if resource is not None else ("task", str(task))
