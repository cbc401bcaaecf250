#!/usr/bin/env python3
"""The dashboard's job list on a large store (issue 14): what a page of
``GET /api/jobs`` costs over HTTP, the first and the next, as the dashboard asks
for them (20 jobs, newest first), against the same page made by reading every job
(how the list was made before it paged through ``Store.jobs(after=, limit=)``), a
text search among them.

    python benchmarks/dashboard_pages.py [--resolved 200000] [--rounds 5] [--cache DIR]

The store is built once by benchmarks/scale.py's code (resolved jobs spread over a
week, 1 in 20 failed, 1 in 50 cancelled; a few pending) and cached under --cache
(never in the repository). A server runs in a thread of this process; each
request is timed as its client sees it, the median of --rounds, the kinds of
request alternating. What reads every job by design (a search that matches nothing, a
sort by change, the census behind ``/metrics``) is timed once each for the record.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402

from benchmarks.scale import build  # noqa: E402
from fsjobstore import JobStore  # noqa: E402
from fsjobstore.http.server import Settings, background  # noqa: E402
from fsjobstore.http.server.listing import page  # noqa: E402

TOKEN = "dashboard-bench-token"
LIMIT = 20  # as the dashboard asks


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolved", type=int, default=200_000)
    parser.add_argument("--pending", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache", default="/var/tmp/fsjobstore-dashboard")
    args = parser.parse_args()
    root = Path(args.cache) / f"r{args.resolved}" / "store"
    root.parent.mkdir(parents=True, exist_ok=True)
    build(root, args.resolved, args.pending)
    print(f"store: {root} ({args.resolved:,} resolved, {args.pending:,} pending; "
          f"{(root.parent / 'complete').read_text().strip()})")

    with JobStore(root, durable=False, watch=False) as store, \
            background(store, Settings(token=TOKEN)) as url, \
            httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=600) as http:

        def get(**params: Any) -> dict[str, Any]:
            answer = http.get("/api/jobs", params={"limit": LIMIT, **params})
            answer.raise_for_status()
            result: dict[str, Any] = answer.json()
            assert len(result["jobs"]) == LIMIT, (params, len(result["jobs"]))
            return result

        cold, _ = timed(store.stats)  # (the first read of the history builds its summaries)
        print(f"first stats() of this process: {cold:.2f} s")
        cursors = {"": get()["next_cursor"], "failed": get(state="failed")["next_cursor"],
                   "boom": get(q="boom")["next_cursor"]}
        requests: dict[str, Callable[[], Any]] = {
            "first page, any state": lambda: get(),
            "next page, any state": lambda: get(cursor=cursors[""]),
            "first page, failed": lambda: get(state="failed"),
            "next page, failed": lambda: get(state="failed", cursor=cursors["failed"]),
            "first page, task mail": lambda: get(task="mail"),
            "first page, q=boom (1 job in 20)": lambda: get(q="boom"),
            "next page, q=boom": lambda: get(q="boom", cursor=cursors["boom"]),
            "/api/stats/tasks (per-task counts)": lambda: http.get("/api/stats/tasks").raise_for_status(),
        }
        times: dict[str, list[float]] = {name: [] for name in requests}
        for round_ in range(args.rounds):
            names = list(requests) if round_ % 2 == 0 else list(reversed(requests))
            for name in names:
                times[name].append(timed(requests[name])[0])
        print(f"\n{'GET /api/jobs (20 jobs, newest first)':40}  median of {args.rounds}")
        for name, seconds in times.items():
            print(f"{name:40}  {statistics.median(seconds) * 1000:8.1f} ms")

        print("\nread every job (once each)")
        whole, _ = timed(lambda: page(store.jobs(), sort="-created", limit=LIMIT))
        print(f"{'first page by reading every job':40}  {whole * 1000:8.0f} ms")
        whole, _ = timed(lambda: page(store.jobs("failed"), sort="-created", limit=LIMIT))
        print(f"{'first failed page by reading them all':40}  {whole * 1000:8.0f} ms")
        seconds, _ = timed(lambda: http.get("/api/jobs", params={"q": "no such text"}).raise_for_status())
        print(f"{'q= matching nothing (reads to the end)':40}  {seconds * 1000:8.0f} ms")
        seconds, _ = timed(lambda: get(sort="-updated"))
        print(f"{'sort=-updated':40}  {seconds * 1000:8.0f} ms")
        seconds, _ = timed(store.census)
        print(f"{'per-task census of /metrics':40}  {seconds * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
