"""Schedules kept in the store: managing them, and ticks made once whatever happened
before (a scheduler killed between making a tick and marking it, a tick already
done, a pause, a corrupt schedule file)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from invariants import pending_file

from fsjobstore import CorruptJobFile, JobStore, JobTooLarge
from fsjobstore._store.schedules import tick_id
from fsjobstore.errors import ScheduleNotFound


def _wait_ticks(store: JobStore, name: str, count: int, timeout: float = 10.0) -> int:
    """Make due ticks until *name* has made *count* more; its latest tick."""
    start = store.schedules.last_tick(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store.schedules.make_due_ticks()
        last = store.schedules.last_tick(name)
        if last is not None and (start is None and count == 1 or start is not None and last >= start + count * 1000):
            return last
        time.sleep(0.05)
    raise AssertionError(f"{name} made no {count} ticks in {timeout} s")


def test_a_tick_is_a_job_with_the_schedules_task_request_and_resource(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    store.schedules.add("beat", every=1, task="report", request={"kind": "daily"}, resource="db")
    last = _wait_ticks(store, "beat", 1)
    job = store.get(tick_id("beat", last))
    assert (job.state, job.task, job.request, job.resource) == ("pending", "report", {"kind": "daily"}, "db")
    assert [schedule.name for schedule in store.schedules.all()] == ["beat"]


def test_a_tick_made_by_a_scheduler_killed_before_marking_it_is_not_made_again(
        open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    store = open_store()
    store.schedules.add("beat", every=1)
    last = _wait_ticks(store, "beat", 1)
    markers = tmp_path / "store" / "schedules" / "beat"
    for marker in os.listdir(markers):  # as if killed after the job, before the mark
        os.unlink(markers / marker)
    before = {job.id for job in store.jobs()}
    store.schedules.make_due_ticks()
    assert tick_id("beat", last) in before
    assert {job.id for job in store.jobs()} - before <= {tick_id("beat", last + 1000)}


def test_a_tick_already_done_is_not_made_again(open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    store = open_store()
    store.schedules.add("beat", every=1)
    last = _wait_ticks(store, "beat", 1)
    lease = store.pull_work()
    assert lease is not None and lease.id == tick_id("beat", last)
    lease.fulfill("done")
    markers = tmp_path / "store" / "schedules" / "beat"
    for marker in os.listdir(markers):
        os.unlink(markers / marker)
    store.schedules.make_due_ticks()
    assert store.get(tick_id("beat", last)).state == "fulfilled"
    assert not Path(pending_file(tmp_path / "store", tick_id('beat', last))).exists()
    assert store.check().clean


def test_a_paused_schedule_makes_nothing_and_skips_the_ticks_of_its_pause(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    store.schedules.add("beat", every=1, missed="each")
    store.schedules.pause("beat")
    assert store.schedules.get("beat").paused
    time.sleep(2.2)
    assert store.schedules.make_due_ticks() is None
    assert list(store.jobs()) == []
    resumed = store.schedules.resume("beat")
    last = _wait_ticks(store, "beat", 1)
    first = (round(datetime.fromisoformat(resumed.since).timestamp() * 1000) // 1000 + 1) * 1000
    assert {job.id for job in store.jobs()} == {tick_id("beat", tick) for tick in range(first, last + 1, 1000)}


def test_a_removed_schedule_makes_no_more_ticks_and_its_jobs_stay(open_store: Callable[..., JobStore],
                                                                   tmp_path: Path) -> None:
    store = open_store()
    store.schedules.add("beat", every=1)
    _wait_ticks(store, "beat", 1)
    made = {job.id for job in store.jobs()}
    store.schedules.remove("beat")
    time.sleep(1.2)
    assert store.schedules.make_due_ticks() is None
    assert {job.id for job in store.jobs()} == made
    assert os.listdir(tmp_path / "store" / "schedules") == []
    with pytest.raises(ScheduleNotFound, match="no schedule named 'beat'"):
        store.schedules.remove("beat")
    with pytest.raises(ScheduleNotFound):
        store.schedules.pause("../beat")


@pytest.mark.parametrize("options, error, problem", [
    ({"every": 1, "name": "a/b"}, ValueError, "schedule name 'a/b'"),
    ({}, ValueError, "exactly one of cron"),
    ({"every": 1, "cron": "@daily"}, ValueError, "exactly one of cron"),
    ({"every": 0}, ValueError, "every must be a positive number"),
    ({"every": 0.5}, ValueError, "at least 1 second"),
    ({"cron": "* * *"}, ValueError, "has 3 fields"),
    ({"cron": "@daily", "timezone": "Nowhere/Town"}, ValueError, "unknown time zone"),
    ({"every": 1, "missed": "twice"}, ValueError, "missed must be one of skip, once, each"),
    ({"every": 1, "catch_up": 0}, ValueError, "catch_up must be a positive integer"),
    ({"every": 1, "grace": -1}, ValueError, "grace must be"),
    ({"every": 1, "request": {1, 2}}, TypeError, "request is not JSON-serialisable"),
    ({"every": 1, "request": "x" * 2000}, JobTooLarge, "request is"),
    ({"every": 1, "task": ""}, TypeError, "task must be a non-empty string"),
])
def test_a_bad_schedule_is_refused_naming_the_problem_and_nothing_is_written(
        open_store: Callable[..., JobStore], tmp_path: Path, options: dict[str, Any], error: type[Exception],
        problem: str) -> None:
    store = open_store(max_bytes=1024)
    name = options.pop("name", "nightly")
    with pytest.raises(error, match=problem):
        store.schedules.add(name, **options)
    assert not (tmp_path / "store" / "schedules").exists() or os.listdir(tmp_path / "store" / "schedules") == []
    assert os.listdir(tmp_path / "store" / "tmp") == []


def test_a_schedule_of_a_name_in_use_is_refused_unless_replaced(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    store.schedules.add("nightly", cron="0 3 * * *", timezone="Europe/Paris")
    with pytest.raises(ValueError, match="a schedule named 'nightly' exists"):
        store.schedules.add("nightly", every=60)
    assert store.schedules.get("nightly").cron == "0 3 * * *"
    store.schedules.add("nightly", every=60, replace=True)
    assert store.schedules.get("nightly").every == 60


def test_a_corrupt_schedule_file_is_reported_and_the_others_still_tick(
        open_store: Callable[..., JobStore], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = open_store()
    store.schedules.add("beat", every=1)
    (tmp_path / "store" / "schedules" / "broken.json").write_text('{"format": 1, "name": "broken", "every": "x"}')
    with pytest.raises(CorruptJobFile, match="not a schedule"):
        store.schedules.get("broken")
    _wait_ticks(store, "beat", 1)
    assert [schedule.name for schedule in store.schedules.all()] == ["beat"]
    assert "broken.json" in caplog.text
