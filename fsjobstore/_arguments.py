"""Checks of user-given numbers, shared by every layer: one wording for each mistake."""

from __future__ import annotations

import math


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

