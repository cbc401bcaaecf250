"""Loops ask running handlers to stop (Loop.stop_requested), and a handler that gives up (Stopped) costs no attempt."""

from __future__ import annotations

import threading
from collections.abc import Callable

from loophelpers import running, wait_for

from fsjobstore import Job, JobStore, Worker
from fsjobstore.loops.base import Stopped, StopRequest

Seen = list[tuple[StopRequest, str]]


def _giving_up(worker: Callable[[], Worker], store: JobStore, seen: Seen,
               started: threading.Event) -> Callable[[Job], str]:
    """A handler that works until asked to stop, then notes why and its job's state, and gives up."""
    def handler(job: Job) -> str:
        if job.request == "quick":
            return "done"
        started.set()
        request = wait_for(worker().stop_requested, timeout=20, what="a stop request")
        seen.append((request, store.get(job.id).state))
        raise Stopped(request.reason)

    return handler


def test_a_handler_still_running_at_the_drain_timeout_is_asked_to_stop_and_costs_no_attempt(
    open_store: Callable[..., JobStore],
) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("slow")
    seen: Seen = []
    started = threading.Event()
    worker = Worker(store, _giving_up(lambda: worker, store, seen, started), drain_timeout=0.2)
    worker.abort_grace = 20.0
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert started.wait(20), "the handler did not start"
    assert worker.stop_requested() is None, "nothing asks a thread that is not doing a job"
    worker.stop()
    thread.join(20)
    assert not thread.is_alive()
    assert seen == [(StopRequest("the worker is stopping", at_once=False), "running")], \
        "asked to stop at the drain timeout, its lease still held"
    left = store.get(job.id)
    assert (left.state, left.attempts, left.error) == ("pending", 0, None)
    assert worker.failed_attempts == 0


def test_abort_at_once_says_so(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("slow")
    seen: Seen = []
    started = threading.Event()
    worker = Worker(store, _giving_up(lambda: worker, store, seen, started))
    with running(worker):
        assert started.wait(20), "the handler did not start"
        worker.abort(at_once=True)
        wait_for(lambda: seen, timeout=20, what="the handler to give up")
    assert worker.stopping
    assert seen[0][0].at_once
    assert store.get(job.id).state == "pending"


def test_a_handler_whose_job_is_cancelled_is_asked_to_stop_and_the_worker_goes_on(
    open_store: Callable[..., JobStore],
) -> None:
    store = open_store(poll_interval=0.05, lease_seconds=1.0)
    other = open_store()
    job = store.create("slow")
    seen: Seen = []
    started = threading.Event()
    worker = Worker(store, _giving_up(lambda: worker, store, seen, started))
    with running(worker):
        assert started.wait(20), "the handler did not start"
        other.cancel(job.id)
        wait_for(lambda: seen, timeout=20, what="the handler to be asked to stop")
        quick = store.wait(store.create("quick").id, timeout=20)
    assert "lease was lost" in seen[0][0].reason and not seen[0][0].at_once
    assert store.get(job.id).state == "cancelled"
    assert (quick.state, quick.value) == ("fulfilled", b"done")
    assert worker.failed_attempts == 0
