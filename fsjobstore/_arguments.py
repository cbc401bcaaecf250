"""Checks of user-given arguments (numbers, names), shared by every layer and every
store of the interface: one wording for each mistake."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
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


MAX_LABELS = 64


def check_labels(labels: object) -> dict[str, str]:
    """*labels* as a dict of strings, or ValueError naming what is wrong. The label
    ``to`` is the job's address: only ``pull_work(to=...)`` of that address takes it."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise ValueError(f"labels must be a mapping of strings to strings, not {type(labels).__name__}")
    if len(labels) > MAX_LABELS:
        raise ValueError(f"a job has at most {MAX_LABELS} labels, not {len(labels)}")
    for name, value in labels.items():
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ValueError(f"a label's name must be a string of 1 to 100 characters, not {name!r:.80}")
        if not isinstance(value, str) or len(value) > 1000:
            raise ValueError(f"label {name!r} must be a string of at most 1000 characters, not {value!r:.80}")
    if labels.get("to") == "":
        raise ValueError("label 'to' (the job's address) must not be empty")
    return dict(labels)
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
