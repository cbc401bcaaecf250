"""Checks of user-given numbers, shared by every layer: one wording for each mistake."""

from __future__ import annotations

import math

from .job import STATES


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


def check_listing(state: str | None, task: str | None, after: str | None, limit: int | None) -> None:
    """ValueError (TypeError for a wrong type) naming what is wrong with the
    arguments of a listing, ``Store.jobs``: one wording for every store."""
    if state is not None and state not in STATES:
        raise ValueError(f"unknown state {state!r}; the states are {', '.join(STATES)}")
    for name, text in (("task", task), ("after", after)):
        if text is not None and not isinstance(text, str):
            raise TypeError(f"{name} must be a string, not {text!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a whole number of jobs, 0 or more, not {limit!r}")
