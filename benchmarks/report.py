"""Turns the results of run.py into Markdown tables, results.json and RESULTS.md."""
from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import targets
from benchmarks.adapters import Adapter
from benchmarks.targets import Result, Results, Rounds
from benchmarks.workloads import WORKLOADS, Sizes

PEERS = ("fsjobstore", "dirq", "huey", "kombu", "persist-queue", "diskcache", "litequeue")


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


class Column(NamedTuple):
    header: str
    workload: str
    text: Callable[[Result], str]
    mark: bool = True  # say "timeout" in this column when the run timed out


def _cell(result: Result | None, column: Column) -> str:
    """The value, marked when the run timed out; 'error' when it failed."""
    if result is None:
        return "—"
    if result["status"] == "error":
        return "error"
    try:
        value = column.text(result)
    except (KeyError, TypeError, ZeroDivisionError):
        value = ""
    if result["status"] == "timeout" and column.mark:
        done = next((f" {result[u]:,}/{result['of']:,}" for u in ("jobs", "targets")
                     if u in result), "")
        return f"{value} (timeout{done})".strip()
    return value


def _claim(backlog: int) -> Callable[[Result], str]:
    def text(r: Result) -> str:
        b = r["backlogs"][str(backlog)]
        return f"{_num(b['us_per_claim'])} / {_num(b['p50_us'])}"
    return text


def _rss(r: Result) -> str:
    """Peak RSS at the start, after the first sampling interval, and at the end."""
    samples = r["samples"]
    picks = [samples[0], samples[min(1, len(samples) - 1)], samples[-1]]
    return " → ".join(f"{s[1] / 1024:.1f}" for s in picks)


def _wake(r: Result) -> str:
    return f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} / {r['max_ms']:.1f}"


def _columns(sizes: Sizes) -> list[Column]:
    small, large = sizes.backlogs
    return [
        Column("put jobs/s", "put", lambda r: _num(r["per_s"])),
        Column("drain jobs/s", "drain", lambda r: _num(r["per_s"])),
        Column(f"{sizes.procs}-proc drain jobs/s", "parallel", lambda r: _num(r["per_s"])),
        Column("done twice / never", "parallel",
               lambda r: f"{r['done_twice']:,} / {r['never_done']:,}", mark=False),
        Column(f"claim µs @{small:,} mean / p50", "claim", _claim(small)),
        Column(f"claim µs @{large:,} mean / p50", "claim", _claim(large)),
        Column("ratio of means", "claim", lambda r: f"{r['ratio']:.2f}", mark=False),
        Column("wake p50 / p95 / max ms", "wakeup", _wake),
        Column("wake-up by", "wakeup", lambda r: str(r["mode"]), mark=False),
        Column("lifecycle jobs/s", "lifecycle", lambda r: _num(r["per_s"])),
        Column("notify targets/s", "notify", lambda r: _num(r["per_s"])),
        Column("notify twice / never", "notify",
               lambda r: f"{r['delivered_twice']:,} / {r['never_delivered']:,}", mark=False),
        Column("drain maxrss MiB: start → 1st sample → end", "rss", _rss),
        Column("Worker wake p50 / p95 / max ms", "worker-wakeup", _wake),
        Column("Worker woken by", "worker-wakeup", lambda r: str(r["mode"]), mark=False),
    ]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def tables(results: Results, sizes: Sizes, skipped: dict[str, str], rounds: Rounds) -> str:
    """The targets, two tables (every system; fsjobstore-only workloads) and the notes."""
    columns = [c for c in _columns(sizes) if any(c.workload in r for r in results.values())]
    fsjobstore_only = {w.key for w in WORKLOADS if w.only}
    shared = [c for c in columns if c.workload not in fsjobstore_only]
    own = [c for c in columns if c not in shared]
    parts = ["Issue 5's targets, judged from this run (the lifecycle ratios within each round of "
             "back-to-back runs, see `benchmarks/targets.py`):\n\n"
             + targets.table(targets.judge(results, rounds, sizes.procs))]
    for cols in (shared, own):
        names = [n for n in results if any(c.workload in results[n] for c in cols)]
        if cols and names:
            parts.append(_table(["system"] + [c.header for c in cols],
                                [[n] + [_cell(results[n].get(c.workload), c) for c in cols]
                                 for n in names]))
    notes = [f"- {name} / {key}: {r.get('error') or r.get('note') or r.get('worker_errors')}"
             for name, by_key in results.items() for key, r in by_key.items()
             if r.get("error") or r.get("note") or r.get("worker_errors")]
    notes += [f"- {name} / {key}: {r['done_twice']:,} done twice, {r['never_done']:,} never done"
              for name, by_key in results.items() for key, r in by_key.items()
              if key != "parallel" and (r.get("done_twice") or r.get("never_done"))]
    notes += [f"- {name}: skipped, {reason}" for name, reason in skipped.items()]
    if notes:
        parts.append("Notes:\n" + "\n".join(notes))
    return "\n\n".join(parts)


def systems(adapters: list[type[Adapter]]) -> str:
    """How each system is driven: the first line of its adapter's docstring."""
    return "\n".join(f"- {a.name}: {(a.__doc__ or '').strip().splitlines()[0]}" for a in adapters)


def _filesystem(path: Path) -> str:
    """Type and options of the mount holding ``path`` (from /proc/mounts)."""
    best = ("", "unknown", "")
    real = os.path.realpath(path)
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, mnt, fstype, opts, *_ = line.split()
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best[0]):
                best = (mnt, fstype, opts)
    return f"{best[1]} ({best[2]})"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine(bench_dir: Path) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "filesystem": _filesystem(bench_dir),
        "loadavg_start": os.getloadavg()[0],  # other work on the machine skews results
        "versions": {p: v for p in PEERS if (v := _version(p))},
    }


def read_json(path: Path) -> tuple[dict[str, Any], Sizes, dict[str, str], Results, Rounds]:
    doc = json.loads(path.read_text())
    sizes = Sizes(**doc["sizes"] | {"backlogs": tuple(doc["sizes"]["backlogs"])})
    return doc["meta"], sizes, doc["skipped"], doc["results"], doc.get("rounds", [])


def write_json(path: Path, meta: dict[str, Any], sizes: Sizes, skipped: dict[str, str],
               results: Results, rounds: Rounds) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "sizes": asdict(sizes), "skipped": skipped, "results": results,
           "rounds": rounds}
    path.write_text(json.dumps(doc, indent=1) + "\n")


def results_md(meta: dict[str, Any], sizes: Sizes, body: str, drivers: str) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    load = (f"1-minute load average {meta['loadavg_start']:.2f} at the start, "
            f"{meta['loadavg_end']:.2f} at the end." if "loadavg_end" in meta else "")
    s = sizes
    return f"""# Benchmark results

Made by `{meta.get('command', 'python benchmarks/run.py')}` on {meta['date']}:
{meta['cpus']} CPUs, Linux {meta['kernel']}, Python {meta['python']},
bench folder on {meta['filesystem']}; {versions}. {load}

N = {s.n:,} jobs of ~200 bytes JSON; {s.procs} processes for the parallel drain;
claim cost = mean and median of {s.claims} claims with {s.backlogs[0]:,} and {s.backlogs[1]:,}
pending (fsjobstore also keeps {s.resolved:,} resolved jobs); {s.wakeups} wake-ups,
one put every {s.wake_interval * 1000:.0f} ms to an idle consumer in another process
(put -> claim), and as many to an idle `fsjobstore.Worker` (create -> handler start);
{s.notify_jobs:,} jobs x {s.targets} targets; RSS over {s.rss_n:,} jobs. Each system
and workload runs on a fresh folder, in its own process, after `os.sync()`, with a
time limit ({s.limit:.0f} s): "timeout k/N" marks a run cut short. "done twice /
never" counts jobs completed more than once or not at all by the parallel drain.

How each system is driven:
{drivers}

{body}
"""
