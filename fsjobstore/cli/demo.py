"""`fsjobstore demo`: a short end-to-end run that shows what the store does."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..job import Job
from ..loops import Backoff, Notifier, Worker
from ..store import JobStore

_SENTENCES = [
    "a job store in a plain folder",
    "every job is one JSON file",
    "workers take exclusive leases",
    "a dead worker's lease expires",
    "results are delivered to waiting targets",
    "nothing to run but a filesystem",
]


# Left in a store the demo made, so that it runs there again and nowhere else.
DEMO_MARK = "made-by-fsjobstore-demo"


def claim_folder(path: str) -> None:
    """Make *path* the demo's: new, or empty, or marked by an earlier demo; refuse
    anything else (a real store that $FSJOBSTORE_DIR or a typo points to)."""
    mark = os.path.join(path, DEMO_MARK)
    try:
        os.makedirs(path)
    except FileExistsError:
        if os.path.isfile(mark):
            return
        if not os.path.isdir(path) or os.listdir(path):
            raise ValueError(f"{os.path.abspath(path)} exists and was not made by the demo, which never touches "
                             "a store it did not make: give it a new folder, `fsjobstore demo DIR`") from None
    with open(mark, "x", encoding="utf-8") as f:
        f.write("This store was made by `fsjobstore demo`, which may run in it again. Remove the folder when done.\n")


def run_demo(path: str, count: int, say: Callable[[str], Any]) -> None:
    say(f"Store: {os.path.abspath(path)}")
    with JobStore(path, lease_seconds=5.0, poll_interval=0.2, create=True) as store:
        jobs = []
        for n in range(count):
            words = _SENTENCES[n % len(_SENTENCES)]
            request = {"count_words": words, "fail_first_try": n == 1}
            job = store.create(request, task="count-words")
            store.queue(job.id, {"inbox": f"client-{n % 2}"})
            jobs.append(job)
        say(f"Created {count} jobs (task count-words), each with a waiting target.")

        tries: dict[str, int] = {}

        def count_words(job: Job) -> str:
            tries[job.id] = tries.get(job.id, 0) + 1
            if job.request["fail_first_try"] and tries[job.id] == 1:
                raise RuntimeError("simulated failure on the first try")
            return str(len(job.request["count_words"].split()))

        delivered: list[str] = []

        def deliver(target: Any, job: Job) -> None:
            delivered.append(f"  -> {target['inbox']}: job {job.id} {job.state}, value {job.text!r}")

        worker = Worker(store, {"count-words": count_words}, concurrency=2, backoff=Backoff(base=0.2))
        notifier = Notifier(store, deliver)
        threads = [threading.Thread(target=loop.run, daemon=True) for loop in (worker, notifier)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        results = [store.wait(job.id, timeout=30) for job in jobs]
        # Resolved is not yet notified: wait until every target was delivered.
        while any(store.get(job.id).waiting for job in jobs) and time.monotonic() - started < 30:
            time.sleep(0.05)
        worker.stop()
        notifier.stop()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        say(f"A worker (2 threads) and a notifier ran for {elapsed:.2f} s:")
        for job in results:
            note = f" after {_count(job.attempts, 'failed attempt')}" if job.attempts else ""
            say(f"  {job.id}  {job.state}  {job.request['count_words']!r} -> {job.text} words{note}")
        say(f"Delivered {len(delivered)} notifications:")
        for line in sorted(delivered):
            say(line)
        counts = {state: n for state, n in store.stats().items() if n and state != "due"}
        held = ", ".join(f"{n} {state}" for state, n in counts.items())
        say(f"The store now holds {_count(sum(counts.values()), 'job')}: {held} (`fsjobstore --store "
            f"{_shown(path)} stats` counts them).")
        shown = results[min(1, count - 1)]  # the one that failed once, if there is one
        sample = store.record_path(shown.id)
        how = "failed once, then was fulfilled" if shown.attempts else "was fulfilled"
        say(f"Each job is one JSON file, readable with cat. This one {how}: {_shown(sample)}")
        with open(sample, encoding="utf-8") as f:
            say(f.read().rstrip())
        say('("format": the version of this file\'s layout, docs/format.md; "attempts": the failed ones; '
            '"history": each attempt, with its traceback.)')
        say(f"Look around: fsjobstore --store {_shown(path)} ls  (then: show ID)")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


def _shown(path: str) -> str:
    """*path* as short as it is clear: relative to here, unless that climbs out."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
