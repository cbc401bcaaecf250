"""Worker programs that tests run as real subprocesses (so they can be killed or stopped).

Usage: python tests/procs.py MODE STORE [ARGS]

* ``drain STORE OUT [TO]``: pull and fulfil (jobs addressed to TO, if given) until
  the store has had no work for a second; write one fulfilled job id per line to OUT.
* ``hold STORE``: pull one job and print ``pulled <id>``; print ``compromised``
  when told the lease was lost; on each stdin line ``fulfill`` try to fulfil and
  print ``fulfilled`` or ``lost``; exit on EOF.
* ``keyed STORE OUT KEYS``: create a job for each of KEYS keys (``k0``...) three
  times in a random order, replacing a pending job's request every other time;
  write ``KEY ID`` (or ``KEY refused``, a replace of a job no longer pending)
  per create to OUT.
* ``batched STORE OUT KEYS``: the same keys, three times in a random order, in
  batches of ``create_many`` (25 keyed jobs and 10 without a key each); write
  ``KEY ID`` per keyed job and ``- ID`` per other job to OUT.
* ``tree STORE OUT``: as ``drain``, for jobs made with ``after``: before running a
  job, check that every parent is fulfilled (``early ID`` to OUT if not); a job
  whose request is ``{"fail": true}`` fails for good; write ``ran ID`` per job run.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fsjobstore import JobSpec, JobStateError, JobStore, LeaseLost  # noqa: E402


def spawn(*args: str, lease: float = 2.0, **popen: object) -> subprocess.Popen:
    """Start this program as a subprocess (for tests)."""
    env = dict(os.environ, FSJOBSTORE_TEST_LEASE=str(lease))
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], env=env, text=True, **popen)  # type: ignore[call-overload]


def drain(path: str, out: str, lease_seconds: float, to: str | None = None) -> None:
    done = []
    with JobStore(path, lease_seconds=lease_seconds, create=True) as store:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.0:
            lease = store.pull_work(to=to)
            if lease is None:
                time.sleep(0.005)
                continue
            with lease:
                lease.fulfill(f"done by {os.getpid()}")
                done.append(lease.id)
            idle_since = time.monotonic()
    with open(out, "w") as f:
        f.write("".join(job_id + "\n" for job_id in done))


def tree(path: str, out: str, lease_seconds: float) -> None:
    lines = []
    with JobStore(path, lease_seconds=lease_seconds, durable=False) as store:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.5:
            lease = store.pull_work()
            if lease is None:
                time.sleep(0.005)
                continue
            with lease:
                job = lease.job
                lines.append(f"ran {job.id}\n")
                lines.extend(f"early {job.id}\n" for parent in job.after if store.get(parent).state != "fulfilled")
                if isinstance(job.request, dict) and job.request.get("fail"):
                    lease.fail("planned")
                else:
                    lease.fulfill(f"done by {os.getpid()}")
            idle_since = time.monotonic()
    with open(out, "w") as f:
        f.write("".join(lines))


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


def keyed(path: str, out: str, count: int) -> None:
    keys = [f"k{n}" for n in range(count)] * 3
    random.shuffle(keys)
    lines = []
    with JobStore(path, durable=False) as store:
        for n, key in enumerate(keys):
            try:
                job = store.create({"pid": os.getpid(), "n": n}, key=key,
                                   on_conflict="replace" if n % 2 else "return")
                lines.append(f"{key} {job.id}\n")
            except JobStateError:
                lines.append(f"{key} refused\n")
    with open(out, "w") as f:
        f.write("".join(lines))


def batched(path: str, out: str, count: int) -> None:
    keys = [f"k{n}" for n in range(count)] * 3
    random.shuffle(keys)
    lines = []
    with JobStore(path, durable=False) as store:
        for start in range(0, len(keys), 25):
            # (a batch has each key at most once: a key drawn twice for one is given once)
            chunk = list(dict.fromkeys(keys[start : start + 25]))
            specs = [JobSpec({"pid": os.getpid(), "key": key}, key=key) for key in chunk]
            made = store.create_many([*specs, *({"pid": os.getpid(), "n": n} for n in range(10))])
            lines += [f"{key} {job.id}\n" for key, job in zip(chunk, made, strict=False)]
            lines += [f"- {job.id}\n" for job in made[len(chunk):]]
    with open(out, "w") as f:
        f.write("".join(lines))


if __name__ == "__main__":
    mode, store_path = sys.argv[1], sys.argv[2]
    lease = float(os.environ.get("FSJOBSTORE_TEST_LEASE", "2.0"))
    if mode == "drain":
        drain(store_path, sys.argv[3], lease, *sys.argv[4:5])
    elif mode == "hold":
        hold(store_path, lease)
    elif mode == "tree":
        tree(store_path, sys.argv[3], lease)
    elif mode == "keyed":
        keyed(store_path, sys.argv[3], int(sys.argv[4]))
    elif mode == "batched":
        batched(store_path, sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
