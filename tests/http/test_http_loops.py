"""Worker and Notifier from fsjobstore.loops, unchanged, over HttpStore."""

from __future__ import annotations

import re
import threading
from typing import Any

from httpfixtures import ADMIN, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)
from loophelpers import running, wait_for

from fsjobstore import Backoff, Job, Notifier, Worker
from fsjobstore.http.client import HttpStore


def test_worker_over_http_fulfils_retries_and_fails(served: Served) -> None:
    store = served.store
    ok = [store.create({"n": n}, task="square") for n in range(5)]
    flaky = store.create({"n": 9}, task="flaky")
    doomed = store.create({"n": 0}, task="doomed")
    tries: dict[str, int] = {}
    lock = threading.Lock()

    def square(job: Job) -> str:
        return str(job.request["n"] ** 2)

    def flaky_once(job: Job) -> str:
        with lock:
            tries[job.id] = tries.get(job.id, 0) + 1
        if tries[job.id] == 1:
            raise RuntimeError("first try fails")
        return "second try"

    def always(job: Job) -> str:
        raise ValueError("never works")

    with HttpStore(served.url, ADMIN, poll_interval=0.05) as remote:
        worker = Worker(remote, {"square": square, "flaky": flaky_once, "doomed": always}, concurrency=2,
                        max_attempts=2, backoff=Backoff(base=0.05, limit=0.1))
        with running(worker):
            done = [store.wait(job.id, timeout=20) for job in [*ok, flaky, doomed]]
    assert [j.value for j in done[:5]] == [b"0", b"1", b"4", b"9", b"16"]
    assert (done[5].state, done[5].value, done[5].attempts) == ("fulfilled", b"second try", 1)
    assert (done[6].state, done[6].error, done[6].attempts) == ("failed", "ValueError: never works", 2)
    assert worker.fulfilled == 6


def test_notifier_over_http_delivers_each_target(served: Served) -> None:
    store = served.store
    jobs = [store.create(n) for n in range(3)]
    for job in jobs:
        store.queue(job.id, {"inbox": job.id})
        store.fulfill(job.id, f"value {job.request}")
    delivered: list[tuple[Any, bytes | None]] = []
    failed_once: set[str] = set()

    def deliver(target: Any, job: Job) -> None:
        if job.id not in failed_once:
            failed_once.add(job.id)
            raise ConnectionError("recipient down")
        delivered.append((target, job.value))

    with HttpStore(served.url, ADMIN, poll_interval=0.05) as remote:
        notifier = Notifier(remote, deliver, backoff=Backoff(base=0.05, limit=0.1))
        with running(notifier):
            wait_for(lambda: store.stats()["due"] == 0 and len(delivered) == 3, timeout=20, what="deliveries")
    expected = {(job.id, f"value {job.request}".encode()) for job in jobs}
    assert {(target["inbox"], value) for target, value in delivered} == expected and len(delivered) == 3
    assert all(store.get(job.id).waiting == () for job in jobs)


def _requests(served: Served, method: str, route: str) -> int:
    """How many requests the server answered on *route*, as its /metrics count them."""
    with served.http() as http:
        text = http.get("/metrics").text
    found = re.search(rf'fsjobstore_http_request_seconds_count{{method="{method}",route="{re.escape(route)}",'
                      rf'status="2\d\d"}} (\S+)', text)
    return 0 if found is None else int(float(found.group(1)))


def test_a_loop_over_http_watches_the_pauses_through_its_beats(served: Served) -> None:
    with HttpStore(served.url, ADMIN, poll_interval=0.05) as remote:
        worker = Worker(remote, {"mail": lambda job: "sent"})
        with running(worker):
            wait_for(lambda: [w.beats for w in served.store.workers()] >= [2], timeout=20, what="two beats")
            served.store.pause("mail", reason="relay down")
            wait_for(lambda: [w.paused for w in served.store.workers()] == ["every task it does: mail"],
                     timeout=20, what="the worker's record to say it is paused")
            beats = served.store.workers()[0].beats
    assert _requests(served, "POST", "/api/heartbeats/{heartbeat}/beat") >= beats >= 3
    assert _requests(served, "GET", "/api/pauses") == 1, "one look as the loop starts; then its beats tell it"
