"""`fsjobstore schedule add/ls/rm/pause/resume`, `scheduler` and `work --schedules`, as real processes."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from clihelpers import assert_error, fsj, ok, popen, stop
from loophelpers import wait_for

from fsjobstore import JobStore


def _store(tmp_path: Path) -> Path:
    ok(fsj("init", str(tmp_path / "store")))
    return tmp_path / "store"


def test_schedules_are_added_listed_paused_resumed_and_removed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert ok(fsj("schedule", "add", "nightly", "--cron", "0 3 * * *", "--tz", "Europe/Paris", "--task", "report",
                  "--request", '{"kind": "daily"}', "--missed", "each", "--catch-up", "5", store=store)) \
        == "added schedule nightly: cron '0 3 * * *' Europe/Paris\n"
    ok(fsj("schedule", "add", "beat", "--every", "15m", store=store))
    table = ok(fsj("schedule", "ls", store=store)).splitlines()
    assert table[0].split()[:3] == ["NAME", "STATE", "MISSED"]
    assert table[1].startswith("beat") and "every 900 s / -" in table[1]
    assert table[2].startswith("nightly") and "active" in table[2] and "/ report" in table[2]
    ok(fsj("schedule", "pause", "nightly", store=store))
    listed = [json.loads(line) for line in ok(fsj("schedule", "ls", "--json", store=store)).splitlines()]
    nightly = next(entry for entry in listed if entry["name"] == "nightly")
    assert (nightly["paused"], nightly["request"], nightly["catch_up"], nightly["last_tick"]) == \
        (True, {"kind": "daily"}, 5, None)
    assert nightly["next_tick"].endswith(":00:00.000000Z")
    ok(fsj("schedule", "resume", "nightly", store=store))
    assert "active" in ok(fsj("schedule", "ls", store=store)).splitlines()[2]
    assert ok(fsj("schedule", "rm", "beat", store=store)) == "removed schedule beat\n"
    assert [line.split()[0] for line in ok(fsj("schedule", "ls", store=store)).splitlines()] == ["NAME", "nightly"]


def test_schedule_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ok(fsj("schedule", "add", "beat", "--every", "1m", store=store))
    assert_error(fsj("schedule", "add", "beat", "--every", "1m", store=store), "a schedule named 'beat' exists")
    assert_error(fsj("schedule", "add", "x", "--cron", "0 25 * * *", store=store), "cron hour '25'")
    assert_error(fsj("schedule", "add", "x", store=store), "exactly one of cron")
    assert_error(fsj("schedule", "add", "x", "--every", "1m", "--request", "{", store=store),
                 "--request is not valid JSON")
    assert_error(fsj("schedule", "rm", "nope", store=store), "no schedule named 'nope'")
    assert_error(fsj("schedule", "pause", "nope", store=store), "no schedule named 'nope'")
    assert_error(fsj("--url", "http://127.0.0.1:9", "schedule", "ls"),
                 "`fsjobstore schedule ls` works on the store's folder", "not --url")
    assert [line.split()[0] for line in ok(fsj("schedule", "ls", store=store)).splitlines()] == ["NAME", "beat"]


def test_scheduler_burst_makes_the_due_ticks(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ok(fsj("schedule", "add", "beat", "--every", "1s", "--task", "beat", store=store))

    def made() -> int:
        ok(fsj("scheduler", "--burst", store=store))
        with JobStore(store) as opened:
            return len(list(opened.jobs()))

    wait_for(made, timeout=20, what="a tick made by `scheduler --burst`")


def test_work_with_schedules_makes_the_ticks_and_does_them(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ok(fsj("schedule", "add", "beat", "--every", "1s", "--request", '"tick"', store=store))
    proc = popen("work", "--schedules", "--poll-interval", "0.1", "--", "cat", store=store)
    try:
        with JobStore(store) as opened:
            wait_for(lambda: any(job.state == "fulfilled" and job.text == '"tick"' for job in opened.jobs()),
                     timeout=20, what="a tick done")
    finally:
        status, _, err, _ = stop(proc, signal.SIGTERM)
    assert status == 0, err
