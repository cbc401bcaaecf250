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

from typing import Any

from .._arguments import MAX_LIMIT, check_limit
from .._files.layout import RECORD_SUFFIX, Layout
from .._files.values import value_key
from .._leases import Lease, LeaseFolder
from ..interface import Limit
from .control import ControlFolder

LIMITS = "limits"
KINDS = ("resource", "task")


class Limits:
    def __init__(self, layout: Layout, *, durable: bool) -> None:
        self._folder = ControlFolder(layout, LIMITS, _parse, _order, durable=durable)

    def current(self) -> tuple[Limit, ...]:
        return self._folder.current()

    def set(self, limit: int | None, resource: str | None, task: str | None) -> None:
        kind, name = check_limit(limit, resource, task)
        if limit is None:
            self._folder.remove(_entry(kind, name))
            return
        self._folder.publish(_entry(kind, name), {kind: name, "limit": limit})


def slot_names(limits: tuple[Limit, ...], kind: str, name: str) -> list[str]:
    """The slot lease names of a resource or task (none: a task without a cap)."""
    limit = next((entry.limit for entry in limits if entry.kind == kind and entry.name == name),
                 1 if kind == "resource" else 0)
    if not limit:
        return []
    key = value_key(name) if kind == "resource" else value_key(["task", name])
    return [key] + [f"{key}-{i}" for i in range(1, limit)]


def take_slot(leases: LeaseFolder, names: list[str]) -> Lease | None:
    """The first free slot of *names*, or an expired one taken over; None if every
    slot is held. Lowest first: so that after a limit is lowered the slots above it
    empty as their jobs end, and the new limit holds from then on."""
    for name in names:
        lease = leases.acquire(name)
        if lease is not None:
            return lease
    if leases.sweep_due():
        expired = set(leases.sweep())
        for name in names:
            if name in expired and (lease := leases.take_over(name)) is not None:
                return lease
    return None


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
