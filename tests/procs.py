"""Worker programs that tests run as real subprocesses (so they can be killed or stopped).

Usage: python tests/procs.py MODE STORE [ARGS]

* ``drain STORE OUT``: pull and fulfil until the store has had no work for a
  second; write one fulfilled job id per line to OUT.
* ``hold STORE``: pull one job and print ``pulled <id>``; print ``compromised``
  when told the lease was lost; on each stdin line ``fulfill`` try to fulfil and
  print ``fulfilled`` or ``lost``; exit on EOF.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fsjobstore import JobStore, LeaseLost  # noqa: E402


def spawn(*args: str, lease: float = 2.0, **popen: object) -> subprocess.Popen:
    """Start this program as a subprocess (for tests)."""
    env = dict(os.environ, FSJOBSTORE_TEST_LEASE=str(lease))
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], env=env, text=True, **popen)  # type: ignore[call-overload]


def drain(path: str, out: str, lease_seconds: float) -> None:
    done = []
    with JobStore(path, lease_seconds=lease_seconds, create=True) as store:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.0:
            lease = store.pull_work()
            if lease is None:
                time.sleep(0.005)
                continue
            with lease:
                lease.fulfill(f"done by {os.getpid()}")
                done.append(lease.id)
            idle_since = time.monotonic()
    with open(out, "w") as f:
        f.write("".join(job_id + "\n" for job_id in done))


def hold(path: str, lease_seconds: float) -> None:
    store = JobStore(path, lease_seconds=lease_seconds, create=True)
    lease = None
    while lease is None:
        lease = store.pull_work(on_compromised=lambda _lease: print("compromised", flush=True))
        if lease is None:
            time.sleep(0.01)
    print("pulled", lease.id, flush=True)
    for line in sys.stdin:
        if line.strip() == "fulfill":
            try:
                lease.fulfill(f"late fulfil by {os.getpid()}")
                print("fulfilled", flush=True)
            except LeaseLost:
                print("lost", flush=True)
    store.close()


if __name__ == "__main__":
    mode, store_path = sys.argv[1], sys.argv[2]
    lease = float(os.environ.get("FSJOBSTORE_TEST_LEASE", "2.0"))
    if mode == "drain":
        drain(store_path, sys.argv[3], lease)
    elif mode == "hold":
        hold(store_path, lease)
    else:
        raise SystemExit(f"unknown mode {mode}")
