"""The eight workloads of issue 5, and 6b: issue 4's wake-up of a real Worker.

Each runs in its own process on a fresh folder (see run.py), gets a deadline,
and returns a JSON-able dict: ``status`` ("ok" or "timeout"; run.py adds
"error") plus its metrics. Loops stop at the deadline and report what they
finished, so a slow peer is truncated, not waited on.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import resource
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.adapters import Adapter, Job, make_job
from fsjobstore import Worker

Result = dict[str, Any]
FSJOBSTORE = ("fsjobstore", "fsjobstore-nondurable")
FSJOBSTORE_WAKE = (*FSJOBSTORE, "fsjobstore-polling")
EMPTY_PATIENCE = 3  # empty claims, 5 ms apart, before a parallel worker stops
FORK = mp.get_context("fork")


@dataclass(frozen=True)
class Sizes:
    n: int = 10_000  # put, drain, lifecycle, parallel drain
    procs: int = 4
    backlogs: tuple[int, int] = (1_000, 50_000)
    resolved: int = 10_000  # finished jobs kept beside the backlog (fsjobstore)
    claims: int = 500
    wakeups: int = 40
    wake_interval: float = 0.05
    notify_jobs: int = 10_000
    targets: int = 3
    rss_n: int = 100_000
    rss_every: int = 10_000
    limit: float = 300.0  # seconds per system per workload
    rounds: int = 3  # of the lifecycle targets' runs (targets.ROUND_PLAN)
    wake_slack: float = 15.0  # seconds the wake-up run may last past its puts


#: a smoke check for CI: every workload, small enough to finish in well under a
#: minute on a 2-core machine whose durable creates run at ~500-900/s
QUICK = replace(
    Sizes(), n=200, backlogs=(100, 1_000), resolved=100, claims=50, wakeups=10,
    notify_jobs=100, rss_n=600, rss_every=100, limit=15.0, wake_slack=2.0, rounds=1,
)


@dataclass(frozen=True)
class Ctx:
    adapter: type[Adapter]
    folder: Path
    sizes: Sizes
    deadline: float  # time.monotonic() value

    def left(self) -> float:
        return self.deadline - time.monotonic()


class SetupTimeout(Exception):
    """The untimed preparation did not finish before the deadline."""


# ---------------------------------------------------------------- helpers


@contextmanager
def opened(ctx: Ctx, path: Path | None = None) -> Iterator[Adapter]:
    path = path or ctx.folder
    path.mkdir(parents=True, exist_ok=True)
    adapter = ctx.adapter(path)
    try:
        yield adapter
    finally:
        adapter.close()


def fill(ctx: Ctx, n: int, path: Path | None = None) -> None:
    """Untimed setup: put jobs 0..n-1 with an instance that is then closed."""
    with opened(ctx, path) as adapter:
        for seq in range(n):
            if seq % 100 == 0 and ctx.left() < 0:
                raise SetupTimeout(f"setup put {seq}/{n} jobs")
            adapter.put(make_job(seq))


def timed_loop(ctx: Ctx, n: int, step: Callable[[int], None]) -> tuple[int, float]:
    """os.sync(), then step(0..n-1) until done or the deadline: (count, seconds)."""
    os.sync()
    start = time.perf_counter()
    count = 0
    while count < n and time.monotonic() < ctx.deadline:
        step(count)
        count += 1
    return count, time.perf_counter() - start


def drain(ctx: Ctx, adapter: Adapter, done: list[int], patience: int = 1,
          on_done: Callable[[int], None] | None = None) -> float:
    """Claim + done until ``patience`` empty claims in a row (or the deadline);
    append each finished seq to ``done``; return monotonic time of the last."""
    last = time.monotonic()
    empty = 0
    while time.monotonic() < ctx.deadline:
        claimed = adapter.claim()
        if claimed is None:
            empty += 1
            if empty >= patience:
                break
            time.sleep(0.005)
            continue
        empty = 0
        adapter.done(claimed)
        last = time.monotonic()
        done.append(int(claimed.job["seq"]))
        if on_done is not None:
            on_done(len(done))
    return last


def rate(ctx: Ctx, count: int, n: int, seconds: float, unit: str = "jobs") -> Result:
    """Throughput; "timeout" only if the deadline cut the run short (a run that
    ends early because jobs went missing is "ok", and its counts show the loss)."""
    return {
        "status": "timeout" if count < n and ctx.left() <= 0 else "ok",
        unit: count, "of": n, "seconds": round(seconds, 4),
        "per_s": round(count / seconds, 1) if seconds > 0 else None,
    }


def exactness(done: list[int], n: int) -> Result:
    """Jobs done more than once (extra completions) and jobs never done."""
    counts = Counter(done)
    return {
        "done_twice": sum(c - 1 for c in counts.values() if c > 1),
        "never_done": sum(1 for seq in range(n) if seq not in counts),
    }


def receive(conn: Connection, proc: Any, ctx: Ctx, grace: float = 10.0) -> Result:
    """A child's report, or an error if it sent none by deadline + grace."""
    if conn.poll(max(ctx.left(), 0) + grace):
        report: Result = conn.recv()
        proc.join(5)
        return report
    proc.kill()
    proc.join()
    return {"error": f"no report from pid {proc.pid} (killed, exit {proc.exitcode})"}


def run_child(conn: Connection, body: Callable[[], Result]) -> None:
    try:
        report = body()
    except Exception as exc:  # reported, not hidden
        report = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(report)


# ---------------------------------------------------------------- workloads


def put(ctx: Ctx) -> Result:
    """1. Put N jobs, one process."""
    with opened(ctx) as adapter:
        count, secs = timed_loop(ctx, ctx.sizes.n, lambda i: adapter.put(make_job(i)))
    return rate(ctx, count, ctx.sizes.n, secs)


def drain_one(ctx: Ctx) -> Result:
    """2. Drain N jobs (claim + done), one process."""
    n = ctx.sizes.n
    fill(ctx, n)
    done: list[int] = []
    with opened(ctx) as adapter:
        os.sync()
        start = time.perf_counter()
        drain(ctx, adapter, done)
        secs = time.perf_counter() - start
    return rate(ctx, len(done), n, secs) | exactness(done, n)


def lifecycle(ctx: Ctx) -> Result:
    """3. fsjobstore: create, pull_work, fulfill, release, one job at a time."""
    with opened(ctx) as adapter:
        store = adapter.store  # type: ignore[attr-defined]

        def step(seq: int) -> None:
            job = store.create(make_job(seq))
            lease = store.pull_work()
            if lease is None or lease.id != job.id:
                raise RuntimeError(f"pull_work gave {lease and lease.id!r}, not {job.id!r}")
            lease.fulfill(b"ok")
            lease.release()

        count, secs = timed_loop(ctx, ctx.sizes.n, step)
    return rate(ctx, count, ctx.sizes.n, secs)


def _parallel_worker(ctx: Ctx, barrier: Any, conn: Connection) -> None:
    def body() -> Result:
        done: list[int] = []
        with opened(ctx) as adapter:
            barrier.wait(timeout=60)
            try:
                last = drain(ctx, adapter, done, patience=EMPTY_PATIENCE)
            except Exception as exc:  # keep what was done before the failure
                return {"seqs": done, "last": time.monotonic(),
                        "error": f"{type(exc).__name__}: {exc}"}
        return {"seqs": done, "last": last}

    run_child(conn, body)


def parallel(ctx: Ctx) -> Result:
    """4. P processes drain N jobs; exact count of jobs done twice or never."""
    n, procs = ctx.sizes.n, ctx.sizes.procs
    fill(ctx, n)
    os.sync()
    barrier = FORK.Barrier(procs + 1)
    workers = []
    for _ in range(procs):
        recv_end, send_end = FORK.Pipe(duplex=False)
        proc = FORK.Process(target=_parallel_worker, args=(ctx, barrier, send_end), daemon=True)
        proc.start()
        workers.append((recv_end, proc))
    barrier.wait(timeout=60)
    start = time.monotonic()
    reports = [receive(conn, proc, ctx) for conn, proc in workers]
    done = [seq for r in reports for seq in r.get("seqs", [])]
    secs = max((r["last"] for r in reports if "last" in r), default=start) - start
    result = rate(ctx, len(done), n, secs) | exactness(done, n)
    result["per_worker"] = [len(r.get("seqs", [])) for r in reports]
    errors = sorted({r["error"] for r in reports if "error" in r})
    if errors:
        result["worker_errors"] = errors
    return result


def _claim_times(ctx: Ctx, backlog: int) -> list[float]:
    """Seconds taken by each of up to ``claims`` claims with ``backlog`` pending."""
    path = ctx.folder / f"backlog-{backlog}"
    if ctx.adapter.keeps_resolved:  # finished jobs stay in the store
        with opened(ctx, path) as adapter:
            for seq in range(ctx.sizes.resolved):
                adapter.put(make_job(-1 - seq))
            drain(ctx, adapter, [])
    fill(ctx, backlog, path)
    times: list[float] = []
    with opened(ctx, path) as adapter:
        os.sync()
        while len(times) < min(ctx.sizes.claims, backlog) and ctx.left() > 0:
            start = time.perf_counter()
            claimed = adapter.claim()
            times.append(time.perf_counter() - start)
            if claimed is None:
                raise RuntimeError(f"nothing to claim with {backlog} put")
            adapter.done(claimed)
    return times


def claim_cost(ctx: Ctx) -> Result:
    """5. Mean µs per claim with a small and a large pending backlog."""
    result: Result = {"status": "ok", "backlogs": {}}
    for backlog in ctx.sizes.backlogs:
        try:
            times = _claim_times(ctx, backlog)
        except SetupTimeout as exc:
            times, result["note"] = [], f"backlog {backlog}: {exc}"
        if len(times) < min(ctx.sizes.claims, backlog):
            result["status"] = "timeout"
        if not times:
            break
        result["backlogs"][str(backlog)] = {
            "claims": len(times),
            "us_per_claim": round(statistics.fmean(times) * 1e6, 1),
            "p50_us": round(statistics.median(times) * 1e6, 1),
        }
    means = [b["us_per_claim"] for b in result["backlogs"].values()]
    if len(means) == 2:
        result["ratio"] = round(means[1] / means[0], 2)
    return result


def _wake_consumer(ctx: Ctx, ready: Any, conn: Connection) -> None:
    def body() -> Result:
        got: list[tuple[int, float]] = []
        with opened(ctx) as adapter:
            ready.set()
            while len(got) < ctx.sizes.wakeups and ctx.left() > 0:
                claimed = adapter.wait_claim(min(1.0, ctx.left()))
                if claimed is None:
                    continue
                got.append((claimed.job["seq"], time.monotonic() - claimed.job["t"]))
                adapter.done(claimed)
            return {"got": got, "mode": adapter.wake_by()}

    run_child(conn, body)


def _wake_worker(ctx: Ctx, ready: Any, conn: Connection) -> None:
    def body() -> Result:
        got: list[tuple[int, float]] = []
        with opened(ctx) as adapter:
            store = adapter.store  # type: ignore[attr-defined]

            def handler(job: Job) -> str:
                latency = time.monotonic() - job.request["t"]  # before anything the handler itself costs
                if job.request["seq"] < 0:
                    ready.set()  # the warm-up: the worker is running, and now idle
                else:
                    got.append((job.request["seq"], latency))
                    if len(got) >= ctx.sizes.wakeups:
                        worker.stop()
                return "ok"

            worker = Worker(store, handler)
            # A warm-up job, so that the timed ones meet a worker that is already
            # watching and waiting, not one still starting its threads.
            store.create(make_job(-1))
            timer = threading.Timer(max(0.0, ctx.left()), worker.stop)
            timer.start()
            try:
                worker.run()
            finally:
                timer.cancel()
            return {"got": got, "mode": adapter.wake_by()}

    run_child(conn, body)


def _latencies(ctx: Ctx, waiter: Callable[[Ctx, Any, Connection], None]) -> Result:
    """Start *waiter* in another process; once it is ready, put a job every
    ``wake_interval``; p50/p95/max of the latencies (put -> seen) it reports."""
    k = ctx.sizes.wakeups
    ready = FORK.Event()
    recv_end, send_end = FORK.Pipe(duplex=False)
    child = FORK.Process(target=waiter, args=(ctx, ready, send_end), daemon=True)
    child.start()
    while not ready.wait(0.05):  # until it is up, or failed, or out of time
        if recv_end.poll() or ctx.left() < 0:
            report = recv_end.recv() if recv_end.poll() else {"error": "did not start"}
            child.kill()
            raise RuntimeError(f"waiter: {report.get('error')}")
    with opened(ctx) as adapter:
        os.sync()
        time.sleep(0.1)  # let it settle into its idle wait
        start = time.monotonic()
        for seq in range(k):
            time.sleep(max(0.0, start + seq * ctx.sizes.wake_interval - time.monotonic()))
            adapter.put(make_job(seq))  # the job carries its put time
    report = receive(recv_end, child, ctx)
    if "error" in report:
        raise RuntimeError(f"waiter: {report['error']}")
    ms = sorted(lat * 1e3 for _, lat in report["got"])
    result: Result = {"status": "ok" if len(ms) >= k else "timeout",
                      "jobs": len(ms), "of": k, "mode": report["mode"]}
    if ms:
        result["p50_ms"] = round(statistics.median(ms), 2)
        result["p95_ms"] = round(ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))], 2)
        result["max_ms"] = round(ms[-1], 2)
    return result


def wakeup(ctx: Ctx) -> Result:
    """6. Idle consumer (wait_claim) in another process; a job every 50 ms; put -> claim ms."""
    return _latencies(ctx, _wake_consumer)


def worker_wakeup(ctx: Ctx) -> Result:
    """6b. An idle fsjobstore.Worker in another process; a job every 50 ms; create -> handler start ms."""
    return _latencies(ctx, _wake_worker)


def notify(ctx: Ctx) -> Result:
    """7. fsjobstore: fulfilled jobs with targets, delivered by one notifier."""
    n, k = ctx.sizes.notify_jobs, ctx.sizes.targets
    expected: set[tuple[str, str]] = set()
    with opened(ctx) as adapter:
        store = adapter.store  # type: ignore[attr-defined]
        for seq in range(n):
            if ctx.left() < 0:
                raise SetupTimeout(f"setup fulfilled {seq}/{n} jobs")
            job = store.create(make_job(seq))
            for target in range(k):
                store.queue(job.id, f"target-{target}")
                expected.add((job.id, f"target-{target}"))
            lease = store.pull_work()
            lease.fulfill(b"ok")
            lease.release()
    delivered: list[tuple[str, str]] = []
    with opened(ctx) as adapter:  # a fresh instance: the notifier
        store = adapter.store  # type: ignore[attr-defined]
        os.sync()
        start = time.perf_counter()
        while ctx.left() > 0:
            note = store.pull_notification()
            if note is None:
                break
            waiting = list(note.waiting)
            note.done(waiting)
            delivered.extend((note.id, str(t)) for t in waiting)
        secs = time.perf_counter() - start
    counts = Counter(delivered)
    result = rate(ctx, len(delivered), n * k, secs, unit="targets")
    result["delivered_twice"] = sum(c - 1 for c in counts.values() if c > 1)
    result["never_delivered"] = len(expected - counts.keys())
    return result


class _Tally(list[int]):
    """Counts the jobs done without keeping them: a list of 100,000 seqs would add
    ~4 MiB to the very RSS being measured."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def append(self, seq: int) -> None:
        self.count += 1

    def __len__(self) -> int:
        return self.count


def rss(ctx: Ctx) -> Result:
    """8. Peak RSS of one worker draining many jobs, sampled as it goes."""
    n, every = ctx.sizes.rss_n, ctx.sizes.rss_every
    fill(ctx, n)
    samples: list[tuple[int, int, int]] = []  # (jobs done, maxrss KiB, rss KiB)

    def sample(count: int, force: bool = False) -> None:
        if count % every == 0 or force:
            with open("/proc/self/statm") as f:
                rss_kib = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
            samples.append((count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_kib))

    done = _Tally()
    with opened(ctx) as adapter:
        os.sync()
        sample(0)
        start = time.perf_counter()
        drain(ctx, adapter, done, on_done=sample)
        secs = time.perf_counter() - start
        if samples[-1][0] != len(done):
            sample(len(done), force=True)
    result = rate(ctx, len(done), n, secs)
    result["samples"] = samples
    result["maxrss_growth_kib"] = samples[-1][1] - samples[0][1]
    return result


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    run: Callable[[Ctx], Result]
    only: tuple[str, ...] = ()  # adapter names; empty = every adapter
    limit: Callable[[Sizes], float] = lambda s: s.limit

    def takes(self, adapter: type[Adapter]) -> bool:
        """Whether *adapter* runs in this workload: both must allow it."""
        return ((not self.only or adapter.name in self.only)
                and (not adapter.workloads or self.key in adapter.workloads))


def _wake_limit(s: Sizes) -> float:
    return s.wakeups * s.wake_interval + s.wake_slack


WORKLOADS: tuple[Workload, ...] = (
    Workload("put", "1. put N, one process", put),
    Workload("drain", "2. drain N (claim + done), one process", drain_one),
    Workload("lifecycle", "3. create/pull_work/fulfill/release", lifecycle, FSJOBSTORE),
    Workload("parallel", "4. P processes drain N", parallel),
    Workload("claim", "5. claim cost vs backlog", claim_cost),
    Workload("wakeup", "6. wake-up latency", wakeup, limit=_wake_limit),
    Workload("worker-wakeup", "6b. wake-up latency of a Worker", worker_wakeup, FSJOBSTORE_WAKE,
             limit=_wake_limit),
    Workload("notify", "7. notifications", notify, FSJOBSTORE),
    Workload("rss", "8. peak RSS draining", rss, ("fsjobstore",), limit=lambda s: 2 * s.limit),
)
