"""A Notifier in its own process whose delivery records the target, then hangs
(so the test can SIGKILL it mid-delivery, before it records the delivery).

Usage: python hang_notifier.py STORE LEASE_SECONDS OUT
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fsjobstore import Job, JobStore, Notifier  # noqa: E402


def main() -> None:
    path, lease, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]

    def deliver(target: Any, job: Job) -> None:
        with open(out, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "job": job.id, "target": target}) + "\n")
        time.sleep(60)

    store = JobStore(path, lease_seconds=lease, durable=False, poll_interval=0.05, create=True)
    Notifier(store, deliver, poll_interval=0.05).run()


if __name__ == "__main__":
    main()
