#!/usr/bin/env python3
"""Benchmark fsjobstore against its peers (issue 5).

    python benchmarks/run.py [--quick] [--only NAME,...] [--out DIR]

NAME is a system (fsjobstore, dirq-simple, ...) or a workload (put, drain,
lifecycle, parallel, claim, wakeup, worker-wakeup, notify, rss). Every system x
workload runs in its own process group on a fresh folder under DIR and is
killed if it outlives its time limit. Systems whose package is missing are
skipped.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import report, targets  # noqa: E402
from benchmarks.adapters import REGISTRY, Adapter, load  # noqa: E402
from benchmarks.workloads import (  # noqa: E402
    FORK,
    QUICK,
    WORKLOADS,
    Ctx,
    Result,
    SetupTimeout,
    Sizes,
    Workload,
)


def grace(limit: float) -> float:
    """Seconds past its limit before a run is killed."""
    return max(5.0, min(20.0, limit))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _child(workload: Workload, ctx: Ctx, conn: Connection) -> None:
    os.setpgrp()  # so a run that hangs is killed with all its workers
    try:
        result = workload.run(ctx)
    except SetupTimeout as exc:
        result = {"status": "timeout", "note": str(exc)}
    except Exception as exc:
        traceback.print_exc()
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    conn.send(result)


def run_one(workload: Workload, adapter: type[Adapter], sizes: Sizes, out: Path) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="tmp-", dir=out))
    limit = workload.limit(sizes)
    wait = limit + grace(limit)
    ctx = Ctx(adapter, folder, sizes, time.monotonic() + limit)
    recv_end, send_end = FORK.Pipe(duplex=False)
    proc = FORK.Process(target=_child, args=(workload, ctx, send_end))
    started = time.monotonic()
    proc.start()
    assert proc.pid is not None
    try:
        if recv_end.poll(wait):
            result: Result = recv_end.recv()
        else:
            _kill_group(proc.pid)
            result = {"status": "timeout", "note": f"killed after {wait:.0f} s"}
    except EOFError:
        result = {"status": "error", "error": "run died without a report"}
    finally:
        proc.join(grace(limit))
        _kill_group(proc.pid)  # the run and anything it left behind
        proc.join()
        shutil.rmtree(folder, ignore_errors=True)
    result["wall_s"] = round(time.monotonic() - started, 2)
    return result


def _summary(result: Result) -> str:
    keys = ("status", "per_s", "done_twice", "never_done", "ratio", "p50_ms", "p95_ms", "max_ms",
            "maxrss_growth_kib", "error", "note")
    return " ".join(f"{k}={result[k]}" for k in keys if k in result) + f" ({result['wall_s']} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    parser.add_argument("--only", default="", help="comma-separated systems and/or workloads")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="results and temp folders")
    parser.add_argument("--n", type=int, help="jobs for put/drain/lifecycle/parallel")
    parser.add_argument("--rss-n", type=int, help="jobs drained by the RSS workload")
    parser.add_argument("--limit", type=float, help="seconds per system per workload")
    parser.add_argument("--rounds", type=int,
                        help="rounds of the lifecycle targets' runs (0: none; default 3, quick 1)")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="run nothing: print the tables of a results.json and, if it "
                             "holds a full run, rewrite RESULTS.md from it")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)

    sizes = QUICK if args.quick else Sizes()
    for field in ("n", "rss_n", "limit", "rounds"):
        if getattr(args, field) is not None:
            sizes = replace(sizes, **{field: getattr(args, field)})
    keys = [w.key for w in WORKLOADS]
    only = [name for name in args.only.split(",") if name]
    unknown = [name for name in only if name not in REGISTRY and name not in keys]
    if unknown:
        parser.error(f"unknown {unknown}; systems: {list(REGISTRY)}; workloads: {keys}")
    names = [n for n in REGISTRY if n in only] or list(REGISTRY)
    workloads = [w for w in WORKLOADS if w.key in only] or list(WORKLOADS)

    adapters, skipped = load(names)
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}", file=sys.stderr)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    meta = report.machine(out)
    results: report.Results = {a.name: {} for a in adapters}
    for workload in workloads:
        for adapter in adapters:
            if not workload.takes(adapter):
                continue
            result = run_one(workload, adapter, sizes, out)
            results[adapter.name][workload.key] = result
            print(f"{workload.key:<9} {adapter.name:<22} {_summary(result)}",
                  file=sys.stderr, flush=True)
    rounds = run_rounds(adapters, workloads, sizes, out)

    meta["loadavg_end"] = os.getloadavg()[0]
    meta["quick"] = args.quick
    # Only a run of everything at full size stands for the comparison in RESULTS.md.
    meta["partial"] = (bool(only) or any(getattr(args, f) is not None for f in ("n", "rss_n", "limit"))
                       or args.rounds not in (None, Sizes().rounds))
    meta["command"] = " ".join(["python benchmarks/run.py", *(argv or sys.argv[1:])])
    report.write_json(out / "results.json", meta, sizes, skipped, results, rounds)
    return render(out / "results.json")


def run_rounds(adapters: list[type[Adapter]], workloads: list[Workload], sizes: Sizes,
               out: Path) -> targets.Rounds:
    """The lifecycle targets' runs, back to back, ``sizes.rounds`` times (see targets.py)."""
    by_key = {w.key: w for w in workloads}
    if "lifecycle" not in by_key:
        return []
    by_name = {a.name: a for a in adapters}
    plan = [(by_name[s], by_key[k]) for s, k in targets.ROUND_PLAN if s in by_name and k in by_key]
    rounds: targets.Rounds = []
    for number in range(1, sizes.rounds + 1):
        by_system: report.Results = {}
        for adapter, workload in plan:
            result = run_one(workload, adapter, sizes, out)
            by_system.setdefault(adapter.name, {})[workload.key] = result
            print(f"round {number} {workload.key:<9} {adapter.name:<22} {_summary(result)}",
                  file=sys.stderr, flush=True)
        rounds.append(by_system)
    return rounds


def render(path: Path) -> int:
    """Print the tables of a results.json; a complete full-size run's also go to RESULTS.md."""
    meta, sizes, skipped, results, rounds = report.read_json(path)
    body = report.tables(results, sizes, skipped, rounds)
    print(body)
    if not meta.get("quick") and not meta.get("partial"):
        adapters, _ = load([name for name in REGISTRY if name in results])
        md = report.results_md(meta, sizes, body, report.systems(adapters))
        (HERE / "RESULTS.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
