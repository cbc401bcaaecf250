"""Notifier: the loop that delivers resolved jobs' results to their waiting targets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from loophelpers import running, wait_for

from fsjobstore import Backoff, Job, JobStore, Notifier, Worker

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


class Recorder:
    """A deliver callable that records (job id, target, job) and can fail on purpose."""

    def __init__(self, fail: Callable[[Any, int], bool] | None = None) -> None:
        self.calls: list[tuple[str, Any, Job, float]] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, target: Any, job: Job) -> None:
        with self._lock:
            tries = sum(1 for _, t, _, _ in self.calls if t == target) + 1
            self.calls.append((job.id, target, job, time.monotonic()))
        if self.fail is not None and self.fail(target, tries):
            raise ConnectionError(f"cannot reach {target!r} (try {tries})")

    def pairs(self) -> Counter[tuple[str, str]]:
        return Counter((job_id, json.dumps(target, sort_keys=True)) for job_id, target, _, _ in self.calls)


def no_targets_due(store: JobStore) -> bool:
    return store.stats()["due"] == 0


def test_every_waiting_target_is_delivered_once(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    expected = Counter()
    jobs = []
    for n in range(3):
        job = store.create({"n": n})
        store.queue(job.id, {"inbox": "before", "n": n})
        store.fulfill(job.id, f"value {n}")
        store.queue(job.id, {"inbox": "after", "n": n})
        store.queue(job.id, "plain string target")
        jobs.append(job)
        for target in ({"inbox": "before", "n": n}, {"inbox": "after", "n": n}, "plain string target"):
            expected[(job.id, json.dumps(target, sort_keys=True))] += 1
    deliver = Recorder()
    notifier = Notifier(store, deliver)
    with running(notifier):
        wait_for(lambda: no_targets_due(store), what="every notification delivered")
    assert deliver.pairs() == expected
    assert notifier.delivered == 9
    for job in jobs:
        assert store.get(job.id).waiting == ()
    for job_id, _target, job, _ in deliver.calls:
        assert job.id == job_id
        assert job.state == "fulfilled"
        assert job.value == f"value {job.request['n']}".encode()


def test_a_raising_deliver_is_retried_with_backoff_and_the_others_are_removed(
    open_store: Callable[..., JobStore],
) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")
    for target in ("good-1", "flaky", "good-2"):
        store.queue(job.id, target)
    store.fulfill(job.id, "result")
    deliver = Recorder(fail=lambda target, tries: target == "flaky" and tries <= 2)
    base = 0.15
    notifier = Notifier(store, deliver, backoff=Backoff(base=base, factor=2.0, jitter=0.0))
    with running(notifier):
        wait_for(lambda: [t for _, t, _, _ in deliver.calls].count("flaky") >= 1, what="the first try")
        # The targets that were delivered are removed at once; the failed one waits.
        wait_for(lambda: store.get(job.id).waiting == ("flaky",), what="the good targets removed")
        wait_for(lambda: no_targets_due(store), what="the flaky target delivered in the end")
    tries = [when for _, target, _, when in deliver.calls if target == "flaky"]
    assert len(tries) == 3, tries
    gaps = [b - a for a, b in pairwise(tries)]
    assert gaps[0] >= base * 0.95, gaps
    assert gaps[1] >= 2 * base * 0.95, gaps
    counts = Counter(target for _, target, _, _ in deliver.calls)
    assert counts == {"good-1": 1, "good-2": 1, "flaky": 3}
    assert notifier.delivered == 3
    assert store.get(job.id).waiting == ()


def test_a_target_that_always_fails_stays_waiting_and_is_retried(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")
    store.queue(job.id, "down")
    store.queue(job.id, "up")
    store.fulfill(job.id, "v")
    deliver = Recorder(fail=lambda target, tries: target == "down")
    notifier = Notifier(store, deliver, backoff=Backoff(base=0.02, factor=1.0, jitter=0.0))
    with running(notifier):
        wait_for(lambda: [t for _, t, _, _ in deliver.calls].count("down") >= 4, what="repeated retries")
    assert store.get(job.id).waiting == ("down",), "an undelivered target is kept (at least once)"
    assert store.stats()["due"] == 1
    assert [t for _, t, _, _ in deliver.calls].count("up") == 1
    assert notifier.delivered == 1


def test_a_notifier_killed_mid_delivery_leaves_the_target_for_the_next(tmp_path: Path) -> None:
    path = tmp_path / "store"
    out = tmp_path / "deliveries.jsonl"
    lease = 0.6
    store = JobStore(path, durable=False, poll_interval=0.05, lease_seconds=lease, create=True)
    try:
        job = store.create("x")
        store.queue(job.id, {"url": "http://example.invalid/hook"})
        store.fulfill(job.id, "result")
        proc = subprocess.Popen([sys.executable, str(SCRIPTS / "hang_notifier.py"), str(path), str(lease), str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: out.exists() and out.read_text().count("\n") >= 1, timeout=10, what="first delivery")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert store.get(job.id).waiting == ({"url": "http://example.invalid/hook"},)
        deliver = Recorder()
        with running(Notifier(store, deliver, poll_interval=0.05)):
            wait_for(lambda: no_targets_due(store), timeout=10, what="redelivery after the lease expired")
        first = [json.loads(line) for line in out.read_text().splitlines()]
        assert [(d["job"], d["target"]) for d in first] == [(job.id, {"url": "http://example.invalid/hook"})]
        assert [(j, t) for j, t, _, _ in deliver.calls] == [(job.id, {"url": "http://example.invalid/hook"})]
        assert store.get(job.id).waiting == ()
    finally:
        store.close()


def test_targets_queued_after_fulfil_are_delivered(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")
    store.fulfill(job.id, "done")
    deliver = Recorder()
    with running(Notifier(store, deliver)):
        time.sleep(0.15)
        assert deliver.calls == [], "nothing is waiting yet"
        store.queue(job.id, "late-1")
        wait_for(lambda: len(deliver.calls) == 1, what="the first late target")
        store.queue(job.id, "late-2")
        wait_for(lambda: len(deliver.calls) == 2, what="the second late target")
        wait_for(lambda: no_targets_due(store), what="nothing due")
    assert [t for _, t, _, _ in deliver.calls] == ["late-1", "late-2"]
    assert all(j.value == b"done" for _, _, j, _ in deliver.calls)


def test_a_target_queued_on_a_pending_job_waits_for_its_resolution(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")
    store.queue(job.id, "t")
    deliver = Recorder()
    with running(Notifier(store, deliver)):
        time.sleep(0.2)
        assert deliver.calls == [], "a pending job's targets are not notified"
        store.fulfill(job.id, "now")
        wait_for(lambda: len(deliver.calls) == 1, what="delivery after fulfil")
    assert deliver.calls[0][2].value == b"now"


@pytest.mark.parametrize("how", ["failed", "cancelled"])
def test_failed_and_cancelled_jobs_are_notified_too(open_store: Callable[..., JobStore], how: str) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")
    store.queue(job.id, "watcher")
    if how == "failed":
        store.fail(job.id, "it broke")
    else:
        store.cancel(job.id)
    deliver = Recorder()
    with running(Notifier(store, deliver)):
        wait_for(lambda: no_targets_due(store), what="the failure delivered")
    assert len(deliver.calls) == 1
    _, target, delivered, _ = deliver.calls[0]
    assert target == "watcher"
    assert delivered.state == how
    assert delivered.value is None
    assert delivered.error == ("it broke" if how == "failed" else "cancelled")


def test_worker_and_notifier_together(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    jobs = []
    for n in range(4):
        job = store.create({"n": n})
        store.queue(job.id, {"client": n})
        jobs.append(job)

    def handler(job: Job) -> str:
        if job.request["n"] == 3:
            raise RuntimeError("three is bad")
        return str(job.request["n"] * 10)

    deliver = Recorder()
    worker = Worker(store, handler, max_attempts=1)
    notifier = Notifier(store, deliver, concurrency=2)
    with running(worker), running(notifier):
        for job in jobs:
            store.wait(job.id, timeout=10)
        wait_for(lambda: len(deliver.calls) == 4 and no_targets_due(store), what="all deliveries")
    by_client = {target["client"]: job for _, target, job, _ in deliver.calls}
    assert {n: (j.state, j.value) for n, j in by_client.items()} == {
        0: ("fulfilled", b"0"), 1: ("fulfilled", b"10"), 2: ("fulfilled", b"20"), 3: ("failed", None)
    }


def test_deliver_must_be_callable(open_store: Callable[..., JobStore]) -> None:
    with pytest.raises(TypeError):
        Notifier(open_store(), "nope")  # type: ignore[arg-type]
