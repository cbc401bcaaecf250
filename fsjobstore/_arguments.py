"""Checks of user-given numbers and filters, shared by every layer: one wording for each mistake."""

from __future__ import annotations

import math
from collections.abc import Iterable


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


def parse_labels(texts: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` texts (a ``label`` parameter, ``ls --label``) as a dict; ValueError
    naming one that has no ``=``."""
    labels = {}
    for text in texts:
        name, sign, value = text.partition("=")
        if not sign or not name:
            raise ValueError(f"a label filter is NAME=VALUE, not {text!r}")
        labels[name] = value
    return labels
