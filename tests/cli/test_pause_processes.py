"""Pause, freeze and thaw with real processes competing: three `fsjobstore work`
processes drain a store while an operator, in processes of its own, pauses a task,
freezes the store and thaws it. After a pause is seen (PAUSE_SEEN_WITHIN, twice
over) no process starts a job it stops; after `freeze` returns no lease is held
and nothing changes; after `thaw` every job is done, each exactly once."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from clihelpers import fsj, ok, popen, stop
from loophelpers import wait_for

from fsjobstore import JobStore
from fsjobstore.interface import PAUSE_SEEN_WITHIN

HANDLER = "import sys, time; time.sleep(0.05); sys.stdout.write(sys.stdin.read())"


def _snapshot(store: JobStore) -> dict[str, str]:
    return {job.id: job.state for job in store.jobs()}


def test_workers_on_three_processes_obey_pause_freeze_and_thaw(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with JobStore(path, lease_seconds=2.0, durable=False, create=True) as store:
        tasks = {}
        for n in range(60):
            for task in ("a", "b"):
                tasks[store.create({"n": n}, task=task).id] = task
        workers = [popen("work", "--concurrency", "2", "--poll-interval", "0.05", "--", sys.executable, "-c",
                         HANDLER, store=path) for _ in range(3)]
        try:
            wait_for(lambda: store.stats()["fulfilled"] >= 10, timeout=60, what="some jobs done")
            ok(fsj("pause", "a", "--reason", "test", store=path))
            time.sleep(2 * PAUSE_SEEN_WITHIN)
            started_a = {i for i, state in _snapshot(store).items() if tasks[i] == "a" and state != "pending"}
            wait_for(lambda: all(state == "fulfilled" for i, state in _snapshot(store).items() if tasks[i] == "b"),
                     timeout=60, what="every job of task b done")
            now_a = {i for i, state in _snapshot(store).items() if tasks[i] == "a" and state != "pending"}
            assert now_a == started_a, "a job of the paused task was started after the pause was seen"
            assert len(started_a) < 60
            listed = wait_for(lambda: [w for w in json_lines(fsj("workers", "--json", store=path))
                                       if w["paused"] == "task a"], timeout=10, what="workers saying so")
            assert len(listed) == 3

            frozen = fsj("freeze", "--timeout", "30", store=path)
            assert "frozen" in ok(frozen)
            assert store.holdings() == []
            before = _snapshot(store)
            time.sleep(1.0)
            assert _snapshot(store) == before and store.holdings() == []
            assert "paused: the whole store" in ok(fsj("stats", store=path))

            ok(fsj("thaw", store=path))
            ok(fsj("resume", "a", store=path))
            wait_for(lambda: store.stats()["fulfilled"] == 120, timeout=60, what="every job done after the thaw")
        finally:
            outputs = [stop(worker, signal.SIGTERM, timeout=30) for worker in workers]
        for status, _, err, _ in outputs:
            assert status == 0, err
            assert "paused: task a" in err and "paused: the whole store (frozen" in err and "resumed" in err
        for job in store.jobs():
            assert job.state == "fulfilled" and len(job.history) == 1, job  # done exactly once


def json_lines(result: object) -> list[dict[str, object]]:
    return [json.loads(line) for line in ok(result).splitlines()]  # type: ignore[arg-type]
