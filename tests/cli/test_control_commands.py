"""`fsjobstore pause/resume/freeze/thaw`, and pauses in `stats` and `workers`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from clihelpers import assert_error, fsj, ok

from fsjobstore import JobStore


def test_pause_and_resume_a_task_and_the_store(tmp_path: Path) -> None:
    path = tmp_path / "s"
    ok(fsj("init", str(path)))
    out = ok(fsj("pause", "resize", "--reason", "new release", store=path))
    assert out.startswith("paused: task resize: new release (by ")
    assert ok(fsj("pause", store=path)).startswith("paused: the whole store (by ")
    text = ok(fsj("stats", store=path)).splitlines()
    assert text[1].startswith("paused: the whole store") and text[2].startswith("paused: task resize: new release")
    counts = json.loads(ok(fsj("stats", "--json", store=path)))
    assert [(p["task"], p["reason"]) for p in counts["paused"]] == [(None, None), ("resize", "new release")]
    assert ok(fsj("resume", store=path)) == "resumed: the whole store\n"
    assert ok(fsj("resume", store=path)) == "the whole store was not paused\n"
    assert ok(fsj("resume", "resize", store=path)) == "resumed: task resize\n"
    assert "paused" not in json.loads(ok(fsj("stats", "--json", store=path)))


def test_pausing_an_empty_task_is_one_line_of_error(tmp_path: Path) -> None:
    path = tmp_path / "s"
    ok(fsj("init", str(path)))
    assert_error(fsj("pause", "", store=path), "task must be a non-empty string")
    assert_error(fsj("pause", "--reason", "x" * 1001, store=path), "reason must be a string of at most 1000")
    assert not (path / "paused").exists()


def test_freeze_names_who_still_holds_a_lease_and_thaw_resumes(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with JobStore(path, create=True) as store:
        job = store.create("x")
        lease = store.pull_work()
        assert lease is not None
        frozen = fsj("freeze", "--timeout", "0", store=path)
        assert frozen.returncode == 1
        assert f"work lease on job {job.id}, held by {os.uname().nodename} pid {os.getpid()}" in frozen.stdout
        assert store.pull_work() is None  # it stays paused
        lease.release()
        assert "frozen: no worker takes work" in ok(fsj("freeze", "--timeout", "5", store=path))
        assert ok(fsj("thaw", store=path)) == "thawed: workers take work again\n"
        assert ok(fsj("thaw", store=path)) == "the store was not frozen or paused\n"
        assert store.pull_work() is not None


def test_limit_sets_lists_and_removes_limits(tmp_path: Path) -> None:
    path = tmp_path / "s"
    ok(fsj("init", str(path)))
    assert ok(fsj("limit", "--resource", "gpu", "4", store=path)) == "limit: resource gpu: 4 at a time\n"
    assert ok(fsj("limit", "--task", "resize", "2", store=path)) == "limit: task resize: 2 at a time\n"
    assert ok(fsj("limit", store=path)).splitlines() == ["limit: resource gpu: 4 at a time",
                                                         "limit: task resize: 2 at a time"]
    assert "limit: resource gpu: 4 at a time" in ok(fsj("stats", store=path))
    assert ok(fsj("limit", "--task", "resize", "none", store=path)) == "no limit on task resize: no cap\n"
    assert ok(fsj("limit", "--resource", "gpu", "none", store=path)) == "no limit on resource gpu: 1 job at a time\n"
    assert ok(fsj("limit", store=path)) == ""


def test_bad_limits_are_one_line_of_error(tmp_path: Path) -> None:
    path = tmp_path / "s"
    ok(fsj("init", str(path)))
    assert_error(fsj("limit", "--resource", "gpu", "0", store=path), "limit must be a positive integer")
    assert_error(fsj("limit", "--resource", "gpu", "1001", store=path), "limit must be at most 1000")
    assert_error(fsj("limit", "--resource", "gpu", "many", store=path), "LIMIT must be a number of jobs or none")
    assert_error(fsj("limit", "--resource", "gpu", "--task", "t", "2", store=path), "give one of the two")
    assert_error(fsj("limit", "--resource", "gpu", store=path), "give LIMIT")
    assert not (path / "limits").exists()
