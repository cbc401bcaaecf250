"""Periodic jobs: schedules kept in the store, and their ticks made as jobs, each once.

A tick is a job whose id is derived from the schedule's name and the tick's time
(``ids.derived_id``), published create-if-absent: any number of schedulers, on
any hosts, make it once, with no leader and no lock. Each schedule's latest tick
dealt with is an empty marker file, so a scheduler that starts after all were
down knows which ticks were missed and follows the schedule's policy for them.
Time is the filesystem's clock (the mtime of a probe file), not the host's: a
host whose clock is off makes the same ticks at the same moments as the others.
docs/format.md, "Schedules", has the files and the rules.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from .._arguments import check_count, check_seconds
from .._files import folders, fsio
from .._files.ids import derived_id
from .._files.layout import RECORD_SUFFIX
from .._files.records import Record
from .._files.times import parse_time, time_text
from .._files.values import encode_json
from ..errors import CorruptJobFile, ScheduleNotFound
from .adoption import publish_pending
from .context import StoreContext
from .cron import Cron, Every, zone

log = logging.getLogger("fsjobstore")

MISSED_POLICIES = ("skip", "once", "each")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MARKER = re.compile(r"\d{8}T\d{9}Z")


@dataclass(frozen=True)
class Schedule:
    """A periodic job: what to create (``task``, ``request``, ``resource``) and when
    (``cron`` in ``timezone``, or ``every`` seconds); ``missed`` says what to do
    with ticks that fell due more than ``grace`` seconds before any scheduler saw
    them (``skip`` them, make the latest ``once``, or make ``each``, at most
    ``catch_up``); ``since`` is when ticks began to count (added or resumed)."""

    name: str
    cron: str | None
    every: float | None
    timezone: str
    task: str | None
    request: Any
    resource: str | None
    missed: str
    catch_up: int
    grace: float
    paused: bool
    since: str

    def clock(self) -> Cron | Every:
        return Cron(self.cron, self.timezone) if self.cron is not None else Every(round((self.every or 0) * 1000))

    def describe(self) -> str:
        return f"cron {self.cron!r} {self.timezone}" if self.cron is not None else f"every {self.every:g} s"


def new_schedule(name: str, *, cron: str | None, every: float | None, timezone: str, task: str | None,
                 request: Any, resource: str | None, missed: str, catch_up: int, grace: float,
                 since: str, max_bytes: int) -> Schedule:
    """A schedule from what a user gave, each mistake a ValueError or TypeError naming it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"schedule name {name!r} must be 1 to 64 ASCII letters, digits, '-' or '_'")
    if (cron is None) == (every is None):
        raise ValueError("a schedule needs exactly one of cron (an expression) and every (seconds)")
    if every is not None:
        every = check_seconds("every", every)
    if cron is not None and not isinstance(cron, str):
        raise TypeError(f"cron must be a string, not {cron!r}")
    zone(timezone)
    for what, text in (("task", task), ("resource", resource)):
        if text is not None and (not isinstance(text, str) or not text):
            raise TypeError(f"{what} must be a non-empty string, not {text!r}")
    encode_json(request, "request", max_bytes)
    if missed not in MISSED_POLICIES:
        raise ValueError(f"missed must be one of {', '.join(MISSED_POLICIES)}, not {missed!r}")
    schedule = Schedule(name, cron, every, timezone, task, request, resource, missed,
                        check_count("catch_up", catch_up), check_seconds("grace", grace), False, since)
    schedule.clock()  # (parses the expression: a mistake is named now, not at the first tick)
    return schedule


def tick_id(name: str, tick_ms: int) -> str:
    """The id of the job a schedule's tick makes: the same in every process."""
    return derived_id(tick_ms, f"schedule:{name}")


def _marker_name(tick_ms: int) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(tick_ms // 1000)) + f"{tick_ms % 1000:03d}Z"


def _marker_ms(name: str) -> int | None:
    if not _MARKER.fullmatch(name):
        return None
    return calendar.timegm(time.strptime(name[:15], "%Y%m%dT%H%M%S")) * 1000 + int(name[15:18])


def _ms(text: str) -> int:
    return round(parse_time(text).timestamp() * 1000)


class Schedules:
    """The schedules of one store, and the making of their due ticks."""

    def __init__(self, ctx: StoreContext) -> None:
        self._ctx = ctx
        self._folder = ctx.layout.schedules_folder()

    # -- managing -------------------------------------------------------------------

    def add(self, name: str, *, cron: str | None = None, every: float | None = None, timezone: str = "UTC",
            task: str | None = None, request: Any = None, resource: str | None = None, missed: str = "once",
            catch_up: int = 100, grace: float = 60.0, replace: bool = False) -> Schedule:
        """Add a schedule; its first tick is the first after now. ValueError if one of
        that name exists, unless *replace* (its ticks made so far still count)."""
        schedule = new_schedule(name, cron=cron, every=every, timezone=timezone, task=task, request=request,
                                resource=resource, missed=missed, catch_up=catch_up, grace=grace,
                                since=self._now_text(), max_bytes=self._ctx.options.max_bytes)
        try:
            self._write(schedule, replace=replace)
        except FileExistsError:
            raise ValueError(f"a schedule named {name!r} exists (replace it, or remove it first)") from None
        return schedule

    def get(self, name: str) -> Schedule:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ScheduleNotFound(str(name))
        path = self._folder.join(name + RECORD_SUFFIX)
        try:
            data = fsio.read(path)
        except FileNotFoundError:
            raise ScheduleNotFound(name) from None
        return self._parse(data, path, name)

    def all(self) -> list[Schedule]:
        """Every schedule, by name (a file that is not one is logged once and left out)."""
        found = []
        for entry in sorted(self._folder.names()):
            name = entry.removesuffix(RECORD_SUFFIX)
            if name == entry or not _NAME.fullmatch(name):
                continue
            try:
                found.append(self.get(name))
            except ScheduleNotFound:
                continue  # removed meanwhile
            except CorruptJobFile as exc:
                self._ctx.report(exc)
        return found

    def remove(self, name: str) -> None:
        """Remove a schedule: no tick is made after this returns (ticks made stay jobs)."""
        self.get(name)
        if not fsio.remove(self._folder.join(name + RECORD_SUFFIX)):
            raise ScheduleNotFound(name)
        markers = self._markers(name)
        for marker in markers.names():
            fsio.remove(markers.join(marker))
        folders.remove_folder_if_empty(markers.path)

    def pause(self, name: str) -> Schedule:
        """Stop making ticks of *name* until resumed."""
        return self._rewrite(replace(self.get(name), paused=True))

    def resume(self, name: str) -> Schedule:
        """Make ticks again, from now on: the ticks of the pause are not made."""
        return self._rewrite(replace(self.get(name), paused=False, since=self._now_text()))

    def last_tick(self, name: str) -> int | None:
        """The latest tick of *name* dealt with (made, or passed over by its policy),
        in milliseconds since the epoch; None before the first."""
        ticks = [ms for entry in self._markers(name).names() if (ms := _marker_ms(entry)) is not None]
        return max(ticks, default=None)

    def ticks(self, schedule: Schedule) -> tuple[str | None, str]:
        """The latest tick of *schedule* dealt with (None before the first) and the
        next after it and after now by this host's clock, as UTC times."""
        last = self.last_tick(schedule.name)
        following = schedule.clock().after(max(last or 0, round(time.time() * 1000)))
        return None if last is None else time_text(last / 1000), time_text(following / 1000)

    # -- ticking --------------------------------------------------------------------

    def make_due_ticks(self) -> float | None:
        """Make every due tick of every schedule not paused (each once, whoever else
        runs this); return the seconds until the next tick (None: no schedule)."""
        now = round(fsio.filesystem_now(self._ctx.layout.tmp) * 1000)
        soonest = None
        for schedule in self.all():
            if schedule.paused:
                continue
            clock = schedule.clock()
            self._make_due(schedule, clock, now)
            following = clock.after(now)
            soonest = following if soonest is None else min(soonest, following)
        return None if soonest is None else (soonest - now) / 1000

    def _make_due(self, schedule: Schedule, clock: Cron | Every, now: int) -> None:
        last = max(self.last_tick(schedule.name) or 0, _ms(schedule.since))
        latest = clock.at_or_before(now)
        if latest is None or latest <= last:
            return
        for tick in self._due(schedule, clock, last, now):
            self._make_tick(schedule, tick)
        self._record(schedule.name, latest)

    @staticmethod
    def _due(schedule: Schedule, clock: Cron | Every, last: int, now: int) -> list[int]:
        """The ticks to make, oldest first: those in (last, now], but of the ones that
        fell due more than ``grace`` ago (missed) only what the policy says."""
        missed_until = now - round(schedule.grace * 1000)
        missed: list[int] = []
        if schedule.missed != "skip":
            bound = 1 if schedule.missed == "once" else schedule.catch_up
            tick = clock.at_or_before(missed_until)
            while tick is not None and tick > last and len(missed) < bound:
                missed.append(tick)
                tick = clock.at_or_before(tick - 1)
        on_time = []
        tick = clock.after(max(last, missed_until))
        while tick <= now:
            on_time.append(tick)
            tick = clock.after(tick)
        return missed[::-1] + on_time

    def _make_tick(self, schedule: Schedule, tick: int) -> None:
        """Create the tick's job unless it exists, pending or resolved (create-if-absent)."""
        ctx, job_id = self._ctx, tick_id(schedule.name, tick)
        request_json = encode_json(schedule.request, "request", ctx.options.max_bytes)
        record = Record.new(job_id, schedule.request, request_json, task=schedule.task, resource=schedule.resource)
        if publish_pending(ctx, record):
            log.info("schedule %s: made the tick of %s as job %s", schedule.name, time_text(tick / 1000), job_id)

    def _record(self, name: str, tick: int) -> None:
        """Mark *tick* the latest dealt with, and drop the older marks (the latest is
        all that counts, so two schedulers doing this at once agree)."""
        markers = self._markers(name)
        folders.make_folder(markers.path, shared=self._ctx.options.group_shared)
        fsio.create_empty(markers, _marker_name(tick), durable=self._ctx.durable)
        for entry in markers.names():
            ms = _marker_ms(entry)
            if ms is not None and ms < tick:
                fsio.remove(markers.join(entry))

    # -- files ----------------------------------------------------------------------

    def _markers(self, name: str) -> folders.Folder:
        return folders.Folder(self._folder.join(name), keep_open=False, shared=self._ctx.options.group_shared)

    def _now_text(self) -> str:
        return time_text(fsio.filesystem_now(self._ctx.layout.tmp))

    def _rewrite(self, schedule: Schedule) -> Schedule:
        self._write(schedule, replace=True)
        return schedule

    def _write(self, schedule: Schedule, *, replace: bool) -> None:
        folders.make_folder(self._folder.path, shared=self._ctx.options.group_shared)
        data = (json.dumps({"format": 1, **asdict(schedule)}, indent=1, ensure_ascii=False) + "\n").encode()
        fsio.publish(self._ctx.layout.tmp, self._folder, schedule.name + RECORD_SUFFIX, data,
                     durable=self._ctx.durable, replace=replace)

    def _parse(self, data: bytes, path: str, name: str) -> Schedule:
        try:
            fields = json.loads(data)
            if not isinstance(fields, dict) or fields.pop("format", None) != 1 or fields.get("name") != name:
                raise ValueError("not a format-1 schedule of this name")
            paused, since = fields.pop("paused"), fields.pop("since")
            parse_time(since)
            if not isinstance(paused, bool):
                raise ValueError(f"paused is {paused!r}")
            schedule = new_schedule(**fields, since=since, max_bytes=self._ctx.options.max_bytes)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise CorruptJobFile(path, f"not a schedule ({exc})") from None
        return replace(schedule, paused=paused)
