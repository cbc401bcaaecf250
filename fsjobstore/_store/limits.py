"""Concurrency limits, one file each in the control folder ``limits/`` (see control):
how many jobs of a resource, or of a task, run at once across every host.

A running job holds one *slot lease* per limit that applies to it, in
``leases/resource/``: slot 0 of a resource is ``<key>`` (the one resource lease
of a store without limits, so limit 1 is what it always was), slot i is
``<key>-<i>``. A task's slots are named the same way from the key of
``["task", name]``, which no resource's key can equal. The slots are ordinary
leases: taken with one ``link``, renewed with the job's, taken over when their
holder dies, released with the job.
"""

from __future__ import annotations

import random
from typing import Any

from .._arguments import check_count
from .._files.layout import RECORD_SUFFIX, Layout
from .._files.records import value_key
from .._leases import Lease, LeaseFolder
from ..interface import Limit
from .control import ControlFolder
from .pausing import check_name

LIMITS = "limits"
KINDS = ("resource", "task")
# The most slots a limit may have: each is a name a busy puller may try.
MAX_LIMIT = 1000


class Limits:
    def __init__(self, layout: Layout, *, durable: bool) -> None:
        self._folder = ControlFolder(layout, LIMITS, _parse, _order, durable=durable)

    def current(self) -> tuple[Limit, ...]:
        return self._folder.current()

    def set(self, limit: int | None, resource: str | None, task: str | None) -> None:
        kind, name = _which(resource, task)
        if limit is None:
            self._folder.remove(_entry(kind, name))
            return
        if check_count("limit", limit) > MAX_LIMIT:
            raise ValueError(f"limit must be at most {MAX_LIMIT}, not {limit!r}")
        self._folder.publish(_entry(kind, name), {kind: name, "limit": limit})


def slot_names(limits: tuple[Limit, ...], kind: str, name: str) -> list[str]:
    """The slot lease names of a resource or task (none: a task without a cap)."""
    limit = next((entry.limit for entry in limits if entry.kind == kind and entry.name == name),
                 1 if kind == "resource" else 0)
    key = value_key(name) if kind == "resource" else value_key(["task", name])
    return [key] + [f"{key}-{i}" for i in range(1, limit)]


def take_slot(leases: LeaseFolder, names: list[str]) -> Lease | None:
    """A free slot of *names* (tried from a random one on, so pullers spread), or an
    expired one taken over; None if every slot is held."""
    start = random.randrange(len(names))
    for name in names[start:] + names[:start]:
        lease = leases.acquire(name)
        if lease is not None:
            return lease
    if leases.sweep_due():
        expired = set(leases.sweep())
        for name in names:
            if name in expired and (lease := leases.take_over(name)) is not None:
                return lease
    return None


def _which(resource: str | None, task: str | None) -> tuple[str, str]:
    check_name("resource", resource, "give a task")
    check_name("task", task, "give a resource")
    if (resource is None) == (task is None):
        raise TypeError("a limit is set on a resource or on a task: give one of the two")
    return ("resource", resource) if resource is not None else ("task", task)  # type: ignore[return-value]


def _entry(kind: str, name: str) -> str:
    return f"{kind}-{value_key(name)}{RECORD_SUFFIX}"


def _parse(entry: str, fields: dict[str, Any] | None) -> Limit | None:
    if fields is None:
        return None  # (torn or planted: the default applies)
    for kind in KINDS:
        name, limit = fields.get(kind), fields.get("limit")
        if (isinstance(name, str) and entry == _entry(kind, name) and isinstance(limit, int)
                and not isinstance(limit, bool) and 1 <= limit <= MAX_LIMIT):
            return Limit(kind, name, limit)
    return None


def _order(limit: Limit) -> tuple[str, str]:
    return limit.kind, limit.name
