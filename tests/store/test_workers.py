"""Heartbeat records of running loops, and liveness judged without comparing clocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fsjobstore import JobStore

ROOT = Path(__file__).resolve().parents[2]

LOOP = """
import sys
sys.path.insert(0, sys.argv[2])
from fsjobstore import JobStore, Worker
Worker(JobStore(sys.argv[1]), lambda job: "ok", poll_interval=0.05).run()
"""


def test_a_killed_workers_record_stays_and_is_shown_dead(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    child = subprocess.Popen([sys.executable, "-c", LOOP, store.path, str(ROOT)])
    try:
        deadline = time.monotonic() + 20
        while not store.workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        (alive,) = store.workers()
        assert alive.pid == child.pid and alive.alive is True and alive.kind == "worker"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (dead,) = store.workers()
    assert dead.pid == child.pid and dead.alive is False


def _plant(store: JobStore, name: str, beats: int) -> Path:
    path = Path(store.path) / "workers" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    record = {"id": name, "kind": "worker", "host": "another-host", "pid": 1, "started_at": "x", "tasks": None,
              "concurrency": 1, "current": [], "beats": beats, "beat_seconds": 0.2, "updated_at": "x"}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return path


def test_another_hosts_worker_is_alive_while_its_record_changes(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    _plant(store, "silent", 7)
    _plant(store, "beating", 0)
    stop = threading.Event()

    def beat() -> None:
        beats = 0
        while not stop.wait(0.1):
            beats += 1
            _plant(store, "beating", beats)

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        first = {w.id: w.alive for w in store.workers()}
        assert first == {"silent": None, "beating": None}  # one look: nothing seen to change yet
        judged = {w.id: w.alive for w in store.workers(watch=3.0)}
    finally:
        stop.set()
        thread.join()
    assert judged == {"silent": False, "beating": True}


def test_a_stopped_loop_removes_its_record(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    record = store.register_worker("notifier", None, 2)
    (listed,) = store.workers()
    assert (listed.kind, listed.concurrency, listed.tasks, listed.alive) == ("notifier", 2, None, True)
    record.beat(["01ABC"])
    assert store.workers()[0].current == ["01ABC"] and store.workers()[0].beats == 1
    record.close()
    assert store.workers() == []
