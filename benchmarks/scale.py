#!/usr/bin/env python3
"""Issue 15, targets 4 and 5: a store that holds a lot.

    python benchmarks/scale.py [--quick] [--cache DIR] [--rounds N]

Builds, once, a store of RESOLVED resolved jobs (creation times spread over the
week the default retention keeps) and PENDING pending ones, non-durably: each
record is rendered by fsjobstore's own record code and written where the store
keeps it. The store is cached under --cache (default /var/tmp/fsjobstore-scale,
never in the repository) and reused by later runs (one cached by an older
version is refused: `fsjobstore migrate` the cached big and small stores, or a
copy of them). Then it measures, against a
small store of SMALL pending jobs where a ratio is asked for, and prints the
targets table:

* claim: pull_work + release, median of alternating rounds, big / small;
* stats: a new process (the CLI) when nothing changed, and after a few jobs
  were resolved; and in one process (a loop, a server);
* ls: the first page (50) in several states, with filters, and the next page;
* purge: jobs per second, removing a slice of jobs 8 days old added to the big store;
* get(id): big / small; the peak RSS a purge adds.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fsjobstore import JobStore  # noqa: E402
from fsjobstore._files.ids import id_at  # noqa: E402
from fsjobstore._files.pending_buckets import pending_bucket_of  # noqa: E402
from fsjobstore._files.records import Record  # noqa: E402
from fsjobstore._files.values import NO_VALUE, encode_json, encode_value  # noqa: E402

FULL = {"resolved": 1_000_000, "pending": 100_000, "small": 1_000, "expired": 20_000}
QUICK = {"resolved": 5_000, "pending": 1_000, "small": 1_000, "expired": 1_000}
WEEK_MS = 7 * 24 * 3600 * 1000
TASKS = ("resize", "encode", "mail")


def _write(folder: Path, job_id: str, data: bytes) -> None:
    with open(folder / f"{job_id}.json", "wb") as handle:
        handle.write(data)


def _record(job_id: str, n: int) -> Record:
    request = {"n": n, "url": f"https://example.org/{n}"}
    return Record.new(job_id, request, encode_json(request, "request", 1 << 20), task=TASKS[n % len(TASKS)])


def write_history(root: Path, count: int, start_ms: int, span_ms: int, age_s: float = 0.0) -> list[str]:
    """*count* resolved records (1 in 20 failed, 1 in 50 cancelled), created evenly
    over *span_ms* from *start_ms*, written where the store keeps them;
    with *age_s*, their mtimes set that far back."""
    ids = sorted(id_at(start_ms + i * span_ms // count) for i in range(count))
    made: set[str] = set()
    for n, job_id in enumerate(ids):
        bucket = root / "resolved" / job_id[:6]
        if job_id[:6] not in made:
            bucket.mkdir(exist_ok=True)
            made.add(job_id[:6])
        state = "failed" if n % 20 == 0 else "cancelled" if n % 50 == 1 else "fulfilled"
        record = _record(job_id, n).resolved(state, encode_value(b"done") if state == "fulfilled" else NO_VALUE,
                                             "boom" if state == "failed" else None, int(state == "failed"))
        _write(bucket, job_id, record.render())
        if age_s:
            path = bucket / f"{job_id}.json"
            mtime = path.stat().st_mtime - age_s
            os.utime(path, (mtime, mtime))
    return ids


def write_pending(root: Path, count: int, start_ms: int, span_ms: int) -> None:
    """*count* pending records created evenly over *span_ms* from *start_ms*, each in
    its bucket (format 3)."""
    made: set[str] = set()
    for n in range(count):
        job_id = id_at(start_ms + n * span_ms // count)
        bucket = root / "pending" / pending_bucket_of(job_id)
        if bucket.name not in made:
            bucket.mkdir(exist_ok=True)
            made.add(bucket.name)
        _write(bucket, job_id, _record(job_id, n).render())


def build(root: Path, resolved: int, pending: int) -> None:
    """The big store at *root*, unless a complete one is there already."""
    done = root.parent / "complete"
    if done.exists():
        return
    started = time.monotonic()
    JobStore(root, create=True, durable=False).close()
    now_ms = time.time_ns() // 1_000_000
    write_history(root, resolved, now_ms - WEEK_MS + 3_600_000, WEEK_MS - 7_200_000)
    write_pending(root, pending, now_ms - 3_600_000, 3_600_000)
    done.write_text(f"built in {time.monotonic() - started:.0f} s\n")


def small_store(root: Path, pending: int) -> None:
    if not (root / "fsjobstore.json").exists():
        JobStore(root, create=True, durable=False).close()
        now_ms = time.time_ns() // 1_000_000
        write_pending(root, pending, now_ms - 3_600_000, 3_600_000)


def stores(quick: bool, cache: str) -> tuple[Path, Path]:
    """The big and small stores under *cache* (built the first time): their paths."""
    sizes = QUICK if quick else FULL
    top = Path(cache) / ("quick" if quick else "full")
    big, small = top / "big" / "store", top / "small" / "store"
    big.parent.mkdir(parents=True, exist_ok=True)
    small.parent.mkdir(parents=True, exist_ok=True)
    build(big, sizes["resolved"], sizes["pending"])
    small_store(small, sizes["small"])
    return big, small


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def claims(path: Path, n: int) -> float:
    """Seconds per pull_work + release, over *n* claims in a store object opened now."""
    with JobStore(path, durable=False, watch=False) as store:
        store.pull_work().release()  # type: ignore[union-attr]  # (the first one lists the folder)

        def claim_all() -> None:
            for _ in range(n):
                lease = store.pull_work()
                assert lease is not None
                lease.release()

        return timed(claim_all) / n


def bucket_changed(store: JobStore, big: Path) -> tuple[str, str, str, bool]:
    """A bucket read again after 20 of its records were rewritten (retried, failed
    again): in this store object (it remembers the bucket's entries), in a new one
    (the entries saved with the summary), and in a new one without them (the whole
    bucket read, as before entries were kept). Timed through the first page of
    failed jobs, which reads that bucket's summary and no pending folder (stats
    also lists pending/, whatever changed in history)."""
    again = [job.id for job in store.jobs("failed", limit=20)]
    bucket = again[0][:6]
    size = len(os.listdir(big / "resolved" / bucket))
    # (Made again, with its entries, where older code made it.)
    (big / "summaries" / f"{bucket}.json").unlink(missing_ok=True)
    list(store.jobs("failed", limit=1))
    for job_id in again:
        store.retry(job_id)
        store.fail(job_id, "failed again")

    def first_failed(target: JobStore) -> float:
        return timed(lambda: list(target.jobs("failed", limit=1)))

    in_process = first_failed(store)
    with JobStore(big, durable=False, watch=False) as fresh:
        new_object = first_failed(fresh)
    (big / "summaries" / f"{bucket}.records.json").unlink(missing_ok=True)
    with JobStore(big, durable=False, watch=False) as fresh:
        whole = first_failed(fresh)
    return (f"a bucket read after 20 of its {size:,} records changed", "in proportion",
            f"{in_process * 1000:.0f} ms; new object {new_object * 1000:.0f} ms; whole bucket read "
            f"{whole * 1000:.0f} ms", max(in_process, new_object) < whole / 2)


def cli_seconds(big: Path, small: Path, *args: str) -> tuple[float, float]:
    """Wall time of `python -m fsjobstore --store BIG ARGS` (median of 5), and what
    it costs beyond the same command on the small store (start-up, imports)."""
    def run(store: Path) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fsjobstore", "--store", str(store), *args], check=True,
                       capture_output=True)
        return time.perf_counter() - started

    times = {big: [], small: []}  # type: dict[Path, list[float]]
    for round_ in range(10):
        store = big if round_ % 2 == 0 else small
        times[store].append(run(store))
    whole = statistics.median(times[big])
    return whole, whole - statistics.median(times[small])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="A small store (for tests), same measurements.")
    parser.add_argument("--cache", default="/var/tmp/fsjobstore-scale", help="Where the stores are kept.")
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds of the claim comparison.")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    big, small = stores(args.quick, args.cache)
    print(f"big store: {big} ({(big.parent / 'complete').read_text().strip()})")
    disk = os.statvfs(big)
    print(f"inodes used on its filesystem: {disk.f_files - disk.f_ffree:,} of {disk.f_files:,}")
    rows: list[tuple[str, str, str, bool]] = []

    # claim: alternating rounds, big and small
    ratios = []
    for round_ in range(args.rounds):
        order = [(big, 1), (small, 0)] if round_ % 2 == 0 else [(small, 0), (big, 1)]
        cost = {which: claims(path, 300) for path, which in order}
        ratios.append(cost[1] / cost[0])
    ratio = statistics.median(ratios)
    shown = ", ".join(f"{r:.2f}" for r in ratios)
    rows.append(("claim cost, big / small store", "<= 1.2x", f"{ratio:.2f}x (rounds {shown})", ratio <= 1.2))

    with JobStore(big, durable=False, watch=False) as store:
        first = timed(store.stats)
        again = timed(store.stats)
        rows.append(("stats in one process, nothing changed", "< 100 ms",
                     f"{again * 1000:.1f} ms (first {first:.2f} s)", again < 0.1))
        for _ in range(20):
            lease = store.pull_work()
            assert lease is not None
            lease.fulfill("v")
        changed = timed(store.stats)
        rows.append(("stats in one process, 20 resolved since", "< 100 ms", f"{changed * 1000:.1f} ms",
                     changed < 0.1))
        rows.append(bucket_changed(store, big))
        pages = {
            "ls (any state)": lambda: list(store.jobs(limit=50)),
            "ls --newest-first": lambda: list(store.jobs(limit=50, newest_first=True)),
            "ls --state fulfilled": lambda: list(store.jobs("fulfilled", limit=50)),
            "ls --state failed --task mail": lambda: list(store.jobs("failed", task="mail", limit=50)),
            "ls --state pending --task encode": lambda: list(store.jobs("pending", task="encode", limit=50)),
            "ls --state cancelled --newest-first": lambda: list(store.jobs("cancelled", limit=50, newest_first=True)),
        }
        for label, call in pages.items():
            seconds = min(timed(call) for _ in range(3))
            rows.append((f"first page of {label}", "< 100 ms", f"{seconds * 1000:.1f} ms", seconds < 0.1))
        page = list(store.jobs("fulfilled", limit=50))
        seconds = timed(lambda: list(store.jobs("fulfilled", after=page[-1].id, limit=50)))
        rows.append(("next page (cursor) of ls --state fulfilled", "< 100 ms", f"{seconds * 1000:.1f} ms",
                     seconds < 0.1))
        sample = random.sample([job.id for job in store.jobs("fulfilled", limit=2000)], 200)
        get_big = timed(lambda: [store.get(job_id) for job_id in sample]) / len(sample)
    with JobStore(small, durable=False, watch=False) as store:
        sample = [job.id for job in store.jobs(limit=200)]
        get_small = timed(lambda: [store.get(job_id) for job_id in sample]) / len(sample)
    rows.append(("get(id), big / small store", "flat", f"{get_big / get_small:.2f}x ({get_big * 1e6:.0f} us)",
                 get_big / get_small <= 1.5))

    whole, extra = cli_seconds(big, small, "stats")
    rows.append(("`fsjobstore stats` (new process), nothing changed", "< 100 ms",
                 f"{extra * 1000:.1f} ms more than on the small store ({whole * 1000:.0f} ms in all)", extra < 0.1))
    whole, extra = cli_seconds(big, small, "ls", "--state", "fulfilled", "--limit", "50")
    rows.append(("`fsjobstore ls --state fulfilled --limit 50`", "< 100 ms",
                 f"{extra * 1000:.1f} ms more than on the small store ({whole * 1000:.0f} ms in all)", extra < 0.1))

    # purge: a slice of jobs resolved 8 days ago, created 9 days ago (buckets of their own)
    now_ms = time.time_ns() // 1_000_000
    write_history(big, sizes["expired"], now_ms - 9 * 24 * 3600 * 1000, 3_600_000, age_s=8 * 24 * 3600)
    with JobStore(big, durable=False, watch=False) as store:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu = time.process_time()
        removed: list[int] = []
        seconds = timed(lambda: removed.append(store.purge()))
        cpu = time.process_time() - cpu
        # (Every job removed counts: the big store's own oldest history too, once its
        # cache is older than the hour its history leaves before a week.)
        removed_rate = removed[0] / seconds
        rows.append(("purge, expired jobs per second", ">= 5,000/s",
                     f"{removed_rate:,.0f}/s ({removed[0]:,} in {seconds:.2f} s; {removed[0] / cpu:,.0f}/s of CPU "
                     "time)", removed_rate >= 5000))
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        rows.append(("RSS growth of that purge", "flat", f"{grown / 1024:.1f} MiB", grown < 64 * 1024))

    width = max(len(row[0]) for row in rows)
    print(f"\n{'target':{width}}  {'required':14}  {'measured':40}  met")
    for name, required, measured, met in rows:
        print(f"{name:{width}}  {required:14}  {measured:40}  {'yes' if met else 'NO'}")


if __name__ == "__main__":
    main()
