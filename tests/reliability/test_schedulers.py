"""Schedulers with no leader: several `fsjobstore scheduler` processes on one store
make every tick of a schedule exactly once, one of them under a clock 3 h ahead
(libfaketime), while one is SIGKILLed and replaced mid-run; the same across two
mounts of one folder (two "hosts"). Missed ticks, when every scheduler was down,
follow each schedule's policy.

Every tick made is a job whose id is derived from the schedule and the tick
(``tick_id``), so "every tick once, none lost" is: the jobs in the store are
exactly the ids of every tick from the schedule's start to its latest mark.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_clocks import libfaketime
from test_two_hosts import mounts  # noqa: F401 - the two-mount fixture

from fsjobstore import JobStore
from fsjobstore._store.schedules import tick_id

INTERVAL_MS = 1000


def _scheduler(store: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "fsjobstore", "--store", store, "scheduler",
                                 "--poll-interval", "0.2"], stdout=out, stderr=out,
                                env={**os.environ, **(env or {})})


def _skewed_env() -> dict[str, str]:
    return {"LD_PRELOAD": libfaketime(), "FAKETIME": "+3h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def _every_tick(store: JobStore, name: str) -> set[str]:
    """The ids of every tick of *name* from its start to its latest mark."""
    schedule = store.schedules.get(name)
    since = round(_seconds(schedule.since) * 1000)
    last = store.schedules.last_tick(name)
    assert last is not None, "no tick was made"
    first = (since // INTERVAL_MS + 1) * INTERVAL_MS
    return {tick_id(name, tick) for tick in range(first, last + 1, INTERVAL_MS)}


def _seconds(text: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


def test_three_schedulers_one_skewed_one_killed_make_every_tick_once(
        tmp_path: Path, stopper: list[subprocess.Popen[bytes]]) -> None:
    path = str(tmp_path / "store")
    with JobStore(path, create=True, durable=False) as store:
        store.schedules.add("beat", every=INTERVAL_MS / 1000, task="beat", request={"from": "schedule"},
                            missed="each", grace=30)
        skewed = _scheduler(path, tmp_path / "skewed.log", _skewed_env())
        plain = [_scheduler(path, tmp_path / f"plain{n}.log") for n in range(2)]
        stopper.extend([skewed, *plain])
        time.sleep(3.5)
        plain[0].send_signal(signal.SIGKILL)  # wherever it is: mid-pass or asleep
        plain[0].wait()
        time.sleep(1.5)
        stopper.append(replacement := _scheduler(path, tmp_path / "replacement.log"))
        time.sleep(3.0)
        _stop_all([skewed, plain[1], replacement])

        made = [job.id for job in store.jobs()]
        assert len(made) == len(set(made))
        assert set(made) == _every_tick(store, "beat")
        assert len(made) >= 6
        assert {job.task for job in store.jobs()} == {"beat"}
    skewed_log = (tmp_path / "skewed.log").read_text()
    assert "Traceback" not in skewed_log and "starting scheduler" in skewed_log


def test_schedulers_on_two_mounts_make_every_tick_once(
        mounts: tuple[str, str], tmp_path: Path, stopper: list[subprocess.Popen[bytes]]) -> None:  # noqa: F811
    host_a, host_b = mounts
    with JobStore(host_a, create=True, durable=False) as store:
        store.schedules.add("beat", every=INTERVAL_MS / 1000, missed="each", grace=30)
    procs = [_scheduler(host, tmp_path / f"{n}.log") for n, host in enumerate((host_a, host_b, host_b))]
    stopper.extend(procs)
    time.sleep(5.0)
    _stop_all(procs)
    with JobStore(host_b, durable=False) as store:
        made = [job.id for job in store.jobs()]
        assert len(made) == len(set(made))
        assert set(made) == _every_tick(store, "beat")
        assert len(made) >= 3


def test_ticks_missed_while_every_scheduler_was_down_follow_each_schedules_policy(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    bound = 3
    with JobStore(path, create=True, durable=False) as store:
        for policy in ("skip", "once", "each"):
            store.schedules.add(policy, every=INTERVAL_MS / 1000, missed=policy, catch_up=bound, grace=2)
        burst = [sys.executable, "-m", "fsjobstore", "--store", path, "scheduler", "--burst"]
        time.sleep(1.2)
        subprocess.run(burst, check=True, capture_output=True, timeout=60)
        before = {name: store.schedules.last_tick(name) for name in ("skip", "once", "each")}
        made_before = {job.id for job in store.jobs()}
        time.sleep(8)  # every scheduler down: 8 ticks, at least 5 of them past the grace
        subprocess.run(burst, check=True, capture_output=True, timeout=60)
        made_after = {job.id for job in store.jobs()} - made_before
        after = {name: store.schedules.last_tick(name) for name in ("skip", "once", "each")}
        subprocess.run(burst, check=True, capture_output=True, timeout=60)
        made_later = {job.id for job in store.jobs()} - made_before - made_after

        runs = {}
        for name in ("skip", "once", "each"):
            first, last = before[name], after[name]
            assert first is not None and last is not None and last - first >= 8 * INTERVAL_MS - INTERVAL_MS
            window = range(first + INTERVAL_MS, last + 1, INTERVAL_MS)
            assert not any(tick_id(name, tick) in made_later for tick in window)  # passed over for good
            ticks = [tick for tick in window if tick_id(name, tick) in made_after]
            # The newest ticks, with none left out between them and the latest.
            assert ticks == list(range(last - (len(ticks) - 1) * INTERVAL_MS, last + 1, INTERVAL_MS)), name
            runs[name] = len(ticks)
        on_time = runs["skip"]  # the ticks within the grace, the same for all three in one pass
        assert 1 <= on_time <= 2
        assert runs == {"skip": on_time, "once": on_time + 1, "each": on_time + bound}
