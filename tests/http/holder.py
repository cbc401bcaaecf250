"""A client that holds one lease over HTTP, as a real process the tests can stop.

Usage: python holder.py URL TOKEN

Pulls one job and prints ``pulled <id>``; prints ``compromised <reason>`` when
told the lease was lost; on each stdin line ``fulfill`` tries to fulfil and
prints ``fulfilled`` or ``lost``; exits on EOF.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fsjobstore import LeaseLost  # noqa: E402
from fsjobstore.http.client import HttpStore  # noqa: E402


def main(url: str, token: str) -> None:
    store = HttpStore(url, token)
    lease = None
    while lease is None:
        lease = store.pull_work(lambda lost: print("compromised", lost.loss.reason.name, flush=True), wait=1)
    print("pulled", lease.id, flush=True)
    for line in sys.stdin:
        if line.strip() == "fulfill":
            try:
                lease.fulfill(f"late fulfil by {os.getpid()}")
                print("fulfilled", flush=True)
            except LeaseLost:
                print("lost", flush=True)
    time.sleep(0.1)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
