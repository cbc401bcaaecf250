"""A Worker in its own process, for shutdown tests.

Usage: python slow_worker.py STORE SLEEP DRAIN_TIMEOUT

Prints ``started <id>`` when its handler starts a job, sleeps SLEEP seconds and
fulfils the job with ``slow done``. Stops gracefully on SIGTERM (Worker.run in
the main thread), with the given drain timeout, then prints ``stopped``.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fsjobstore import Job, JobStore, Worker  # noqa: E402


def main() -> None:
    path, sleep, drain = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])

    def handler(job: Job) -> str:
        print("started", job.id, flush=True)
        time.sleep(sleep)
        return "slow done"

    store = JobStore(path, lease_seconds=2.0, durable=False, poll_interval=0.05, create=True)
    print("ready", flush=True)
    Worker(store, handler, poll_interval=0.05, drain_timeout=drain).run()
    store.close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
