"""A worker or a notifier for the chaos test (tests/test_chaos.py), run as a process
that the test SIGKILLs at random.

Usage: python chaos_worker.py worker|notifier STORE LOG LEASE_SECONDS

* ``worker``: pull, "work" 20-60 ms, fulfil with this process's pid as the value;
  only after fulfil returned, append ``<id> <pid>`` to LOG (``lost <id> <pid>``
  when the commit was refused).
* ``notifier``: run a Notifier whose delivery appends
  ``<id> TAB <target JSON> TAB <value>`` to LOG before it counts as delivered.

Each line is one ``write`` to a file opened with O_APPEND, so a process killed at
any moment leaves whole lines only.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fsjobstore import JobAlreadyResolved, JobStore, LeaseLost, Notifier  # noqa: E402


def worker(path: str, log: str, lease_seconds: float) -> None:
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    pid = os.getpid()
    store = JobStore(path, lease_seconds=lease_seconds, watch=False, create=True)
    while True:
        lease = store.pull_work()
        if lease is None:
            time.sleep(0.01)
            continue
        with lease:
            time.sleep(random.uniform(0.02, 0.06))
            try:
                lease.fulfill(str(pid))
            except (LeaseLost, JobAlreadyResolved):
                os.write(out, f"lost {lease.id} {pid}\n".encode())
                continue
            os.write(out, f"{lease.id} {pid}\n".encode())


def notifier(path: str, log: str, lease_seconds: float) -> None:
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    store = JobStore(path, lease_seconds=lease_seconds, create=True)

    def deliver(target: object, job: object) -> None:
        value = job.value.decode()  # type: ignore[attr-defined]
        os.write(out, f"{job.id}\t{json.dumps(target, sort_keys=True)}\t{value}\n".encode())  # type: ignore[attr-defined]

    Notifier(store, deliver, poll_interval=0.05).run()
    store.close()


if __name__ == "__main__":
    mode, store_path, log_path, lease = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    {"worker": worker, "notifier": notifier}[mode](store_path, log_path, lease)
