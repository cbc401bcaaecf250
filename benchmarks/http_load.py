#!/usr/bin/env python3
"""Load test of the HTTP server (issue 14): a server, worker processes over HTTP and a
producer, on loopback; optionally the server is SIGKILLed mid-run and restarted.

    python benchmarks/http_load.py [--jobs 10000] [--workers 2] [--restart] [--json OUT]

Every job's request carries its number n. At the end the store itself is read:
each n must be fulfilled exactly once ("lost" counts those not fulfilled), and no
job may have been committed by two workers ("resolved twice" counts commits that
returned success for a job another commit also succeeded on). Latencies are per
request as the clients saw them. With --restart the kill comes once the producer
has finished and about half the jobs are done: a create whose reply is lost in a
kill cannot be told from one that failed (creation is not idempotent), so the
producer is not exposed to it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fsjobstore import JobStore, LeaseLost  # noqa: E402
from fsjobstore.errors import JobAlreadyResolved  # noqa: E402
from fsjobstore.http.client import HttpStore  # noqa: E402

TOKEN = "load-test-token"
BATCH = 50


def _timed(samples: list[float], call: Any, *args: Any, **kwargs: Any) -> Any:
    start = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        samples.append(time.perf_counter() - start)


def worker(url: str, stop_file: str, out: str) -> None:
    """Pull and fulfil until *stop_file* exists; survive the server going away."""
    result: dict[str, Any] = {"done": [], "lost_commits": 0, "unreachable": 0, "pull": [], "fulfill": []}
    store = HttpStore(url, TOKEN, timeout=10)
    while not os.path.exists(stop_file):
        try:
            lease = _timed(result["pull"], store.pull_work, wait=0.5)
        except ConnectionError:
            result["unreachable"] += 1
            time.sleep(0.1)
            continue
        if lease is None:
            continue
        try:
            _timed(result["fulfill"], lease.fulfill, f"n={lease.request['n']} by {os.getpid()}")
            result["done"].append(lease.id)
        except (LeaseLost, JobAlreadyResolved, ConnectionError):
            result["lost_commits"] += 1  # the job is handed out again: not done by us
            lease.release()
    store.close()
    Path(out).write_text(json.dumps(result))


def producer(url: str, count: int, out: str) -> None:
    samples: list[float] = []
    with HttpStore(url, TOKEN, timeout=30) as store:
        for first in range(0, count, BATCH):
            batch = [{"n": n} for n in range(first, min(count, first + BATCH))]
            _timed(samples, store.create_many, batch, task="load")
    Path(out).write_text(json.dumps({"create_batch": samples}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(store: str, port: int, lease: float) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "fsjobstore", "serve", "--store", store, "--port", str(port), "--token", TOKEN,
         "--lease", str(lease)],
        stdout=subprocess.PIPE, text=True, cwd=HERE.parent, env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.startswith("serving "):
        child.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return child


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], text=True)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")


def run(count: int, workers: int, restart: bool, lease: float, timeout: float) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="fsjobstore-http-load-"))
    store_path, stop_file = str(folder / "store"), str(folder / "stop")
    JobStore(store_path, create=True).close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(store_path, port, lease)
    outs = [str(folder / f"worker{i}.json") for i in range(workers)]
    start = time.monotonic()
    children = [spawn("worker", url, stop_file, out) for out in outs]
    feeder = spawn("producer", url, str(count), str(folder / "producer.json"))
    restarted_at = None
    with JobStore(store_path, create=False) as store:
        while (fulfilled := store.stats()["fulfilled"]) < count:
            if time.monotonic() - start > timeout:
                break
            if restart and restarted_at is None and feeder.poll() is not None and fulfilled >= count // 2:
                server.send_signal(signal.SIGKILL)
                server.wait()
                restarted_at = fulfilled
                time.sleep(1.0)  # down for a second: workers see refused connections
                server = start_server(store_path, port, lease)
            time.sleep(0.5)  # (stats reads every resolved record: not too often)
        elapsed = time.monotonic() - start
        Path(stop_file).touch()
        for child in [*children, feeder]:
            child.wait(60)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        return _report(store, count, outs, folder, elapsed, restarted_at, workers)


def _report(store: JobStore, count: int, outs: list[str], folder: Path, elapsed: float,
            restarted_at: int | None, workers: int) -> dict[str, Any]:
    results = [json.loads(Path(out).read_text()) for out in outs]
    produced = json.loads((folder / "producer.json").read_text())
    by_n: dict[int, list[str]] = {}
    for job in store.jobs():
        if job.state == "fulfilled":
            by_n.setdefault(job.request["n"], []).append(job.id)
    committed = [job_id for result in results for job_id in result["done"]]
    pulls = [s for result in results for s in result["pull"]]
    commits = [s for result in results for s in result["fulfill"]]
    return {
        "jobs": count, "workers": workers, "seconds": round(elapsed, 2),
        "throughput_jobs_per_s": round(len(by_n) / elapsed, 1),
        "lost": sum(1 for n in range(count) if n not in by_n),
        "fulfilled_twice": sum(1 for ids in by_n.values() if len(ids) > 1),
        "committed_twice": len(committed) - len(set(committed)),
        "commits_refused": sum(result["lost_commits"] for result in results),
        "unreachable_pulls": sum(result["unreachable"] for result in results),
        "restarted_after_fulfilled": restarted_at,
        "latency_ms": {
            "pull p50": round(percentile(pulls, 0.5), 2), "pull p99": round(percentile(pulls, 0.99), 2),
            "fulfil p50": round(percentile(commits, 0.5), 2), "fulfil p99": round(percentile(commits, 0.99), 2),
            f"create {BATCH} p50": round(percentile(produced["create_batch"], 0.5), 2),
            f"create {BATCH} p99": round(percentile(produced["create_batch"], 0.99), 2),
        },
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(*sys.argv[2:5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "producer":
        producer(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--restart", action="store_true", help="SIGKILL the server mid-run and restart it")
    parser.add_argument("--lease", type=float, default=5.0, help="lease seconds (a killed server's leases expire)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()
    report = run(args.jobs, args.workers, args.restart, args.lease, args.timeout)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    sys.exit(0 if report["lost"] == 0 and report["fulfilled_twice"] == 0 and report["committed_twice"] == 0 else 1)


if __name__ == "__main__":
    main()
