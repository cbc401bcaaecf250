"""Chaos: 4 worker processes and a notifier drain N jobs, each with a target, while
a driver SIGKILLs a random worker every ~0.3 s and starts a new one.

Half the targets are queued before the workers start, the other half while they
run (racing with the resolutions). At the end:

* every job is fulfilled, once: its value is the pid of a worker that ran, no two
  workers' fulfil calls both returned for one job, and the worker that logged a
  success is the one whose value is stored;
* every target was delivered at least once, with the stored value;
* nothing is left pending, due, waiting or leased; every file parses; ``check``
  is clean (temp files of killed writers are young leftovers, not problems).

The short run (N=300, lease 1 s) is in the default suite; the long one (N=5000)
is marked ``soak`` (``make soak``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from invariants import check_files, leftovers, observe, record_files

from fsjobstore import JobStore

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "chaos_worker.py")
WORKERS = 4


def _start(mode: str, store: Path, log: Path, lease: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, SCRIPT, mode, str(store), str(log), str(lease)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _settled(root: Path) -> bool:
    leases = [n for kind in ("work", "notify") for n in os.listdir(root / "leases" / kind) if "." not in n]
    return not record_files(root, "pending") and not os.listdir(root / "due") and not leases


def run_chaos(tmp_path: Path, jobs: int, lease: float, timeout: float) -> dict[str, float]:
    root = tmp_path / "store"
    logs = tmp_path / "logs"
    logs.mkdir()
    store = JobStore(root, lease_seconds=lease, watch=False, create=True)
    ids = [store.create({"n": n}).id for n in range(jobs)]
    target = {job_id: {"job": job_id, "to": n % 7} for n, job_id in enumerate(ids)}
    late = ids[1::2]
    for job_id in ids[0::2]:
        store.queue(job_id, target[job_id])

    pids: set[int] = set()
    procs: list[subprocess.Popen[bytes]] = []
    for n in range(WORKERS):
        proc = _start("worker", root, logs / f"worker-{n}-0.log", lease)
        procs.append(proc)
        pids.add(proc.pid)
    notifier = _start("notifier", root, logs / "notifier.log", lease)
    kills = 0
    started = time.monotonic()
    next_kill = started + random.uniform(0.2, 0.4)
    try:
        while True:
            now = time.monotonic()
            assert now - started < timeout, (
                f"not drained after {timeout} s: {store.stats()}, {len(late)} targets not queued yet")
            if late:
                # Queue the other half while the jobs are being resolved.
                for job_id in late[:8]:
                    store.queue(job_id, target[job_id])
                del late[:8]
            if now >= next_kill:
                victim = random.randrange(WORKERS)
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait()
                kills += 1
                procs[victim] = _start("worker", root, logs / f"worker-{victim}-{kills}.log", lease)
                pids.add(procs[victim].pid)
                next_kill = now + random.uniform(0.2, 0.4)
            if not late and _settled(root) and all(j.state == "fulfilled" for j in store.jobs(state=None)):
                break
            time.sleep(0.02)
    finally:
        for proc in [*procs, notifier]:
            proc.send_signal(signal.SIGTERM)
        for proc in [*procs, notifier]:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    elapsed = time.monotonic() - started

    # Who says they fulfilled what.
    successes: dict[str, list[int]] = defaultdict(list)
    lost = 0
    for log in logs.glob("worker-*.log"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if parts[0] == "lost":
                lost += 1
            else:
                successes[parts[0]].append(int(parts[1]))
    delivered: dict[str, list[tuple[dict, str]]] = defaultdict(list)
    for line in (logs / "notifier.log").read_text().splitlines():
        job_id, target_json, value = line.split("\t")
        delivered[job_id].append((json.loads(target_json), value))

    seen = observe(store)
    assert set(seen) == set(ids)
    twice = {job_id: who for job_id, who in successes.items() if len(who) > 1}
    assert not twice, f"jobs fulfilled by more than one worker: {twice}"
    unlogged = 0
    for job_id in ids:
        job = seen[job_id]
        assert job.state == "fulfilled", f"{job_id} is {job.state}"
        winner = int(job.value.decode())
        assert winner in pids, f"{job_id} holds the value {winner}, not a worker's pid"
        if successes.get(job_id):
            assert successes[job_id] == [winner], f"{job_id}: {successes[job_id]} logged, {winner} stored"
        else:
            unlogged += 1  # its worker was killed between fulfil and logging
        assert job.waiting == ()
        got = delivered.get(job_id)
        assert got, f"the target of {job_id} was never delivered"
        assert all(t == target[job_id] and v == str(winner) for t, v in got), f"{job_id} delivered {got}"
    assert unlogged <= kills
    assert set(delivered) <= set(ids)

    check_files(root)
    report = store.check()
    assert report.clean and not report.problems, report.problems
    assert all(path.startswith("tmp/") or ".break" in path or ".new-" in path for path in leftovers(root))
    store.close()
    repeats = sum(len(v) - 1 for v in delivered.values())
    print(f"chaos: {jobs} jobs, {kills} workers SIGKILLed, {len(pids)} worker processes, {lost} commits refused, "
          f"{unlogged} results committed by a worker killed before it logged, {repeats} repeated deliveries, "
          f"{report.temp_files} temp files left, {elapsed:.1f} s")
    assert kills >= 5, "too few kills to mean anything"
    return {"jobs": jobs, "kills": kills, "seconds": round(elapsed, 1)}


def test_chaos_short(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for name, value in run_chaos(tmp_path, jobs=300, lease=1.0, timeout=50.0).items():
        request.node.user_properties.append((name, value))


@pytest.mark.soak
def test_chaos_soak(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for name, value in run_chaos(tmp_path, jobs=5000, lease=1.0, timeout=900.0).items():
        request.node.user_properties.append((name, value))
