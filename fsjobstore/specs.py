"""JobSpec: one job of a ``create_many`` batch, with options of its own, and how a
batch's items and defaults become each job's ``create`` arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from .errors import JobTooLarge

When = datetime | timedelta | float | None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job of ``create_many`` whose options differ from the batch's: every option
    given here (not None) replaces the batch's (``labels`` as a whole, not merged).
    ``key`` is per job only: two jobs of a batch never share one. ``after`` and
    ``on_parent_failure`` too, as ``create`` takes them: the parents are jobs that
    exist before the batch."""

    request: Any
    task: str | None = None
    resource: str | None = None
    not_before: When = None
    expires_in: float | None = None
    lease_seconds: float | None = None
    key: str | None = None
    on_conflict: str | None = None
    labels: Mapping[str, str] | None = None
    priority: int | None = None
    deadline: When = None
    after: Sequence[str] | None = None
    on_parent_failure: str | None = None


OPTIONS = tuple(f.name for f in fields(JobSpec) if f.name != "request")


def batch(requests: Iterable[Any], defaults: Mapping[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """(request, create's keyword arguments) of each item of a batch: a JobSpec's own
    options over *defaults*; any other item is a request with the defaults (one dict,
    the same object for every such item: not to be changed). ValueError,
    naming both indexes, for two items with one key (which of them would be created
    is no choice to make for the caller)."""
    items = []
    owners: dict[str, int] = {}
    shared = dict(defaults)  # (one dict for every plain request: a store checks it once)
    for index, item in enumerate(requests):
        options = shared
        if isinstance(item, JobSpec):
            options = shared | {name: value for name in OPTIONS if (value := getattr(item, name)) is not None}
            item = item.request
        key = options.get("key")
        if isinstance(key, str):
            if key in owners:
                raise ValueError(f"requests[{index}]: the key {key!r} is given to requests[{owners[key]}] too: "
                                 "a batch has each key at most once")
            owners[key] = index
        items.append((item, options))
    return items


def named(index: int, exc: TypeError | ValueError) -> TypeError | ValueError:
    """Bad input of one item of a batch as the same kind of error (TypeError,
    ValueError or JobTooLarge) with the item's index in its message."""
    kind = type(exc) if type(exc) in (TypeError, ValueError, JobTooLarge) else (
        TypeError if isinstance(exc, TypeError) else ValueError)
    return kind(f"requests[{index}]: {exc}")
