"""Checks of user-given arguments, shared by every layer: one wording for each mistake."""

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
