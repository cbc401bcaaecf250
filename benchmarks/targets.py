"""Issue 5's targets, judged from the results of one run.

The two lifecycle targets compare rates measured minutes apart, and on a VM
whose fsync and inode costs drift by 2-3x within an hour a single measurement
of each side says more about the hour than about the code. So run.py measures
them in *rounds*: each round runs every side back to back (``ROUND_PLAN``), a
ratio is taken within each round, and the target is judged on the median
round. The other targets are read from the main table.

"put+claim+done" of a peer is its put rate and its claim+done (drain) rate
combined, as the issue measured them: 1 / (1/put + 1/drain) jobs/s.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any, NamedTuple

Result = dict[str, Any]
Results = dict[str, dict[str, Result]]  # adapter name -> workload key -> result
Rounds = list[Results]

#: (system, workload) pairs run once per round, in this order
ROUND_PLAN: tuple[tuple[str, str], ...] = (
    ("fsjobstore", "lifecycle"),
    ("raw-floor", "put"),
    ("raw-floor", "drain"),
    ("fsjobstore-nondurable", "lifecycle"),
    ("dirq-simple", "put"),
    ("dirq-simple", "drain"),
)
#: peak RSS may grow by this much after the first sample and still count as flat
RSS_SLACK_KIB = 1024


class Verdict(NamedTuple):
    target: str
    required: str
    measured: str
    met: bool | None  # None: not measured in this run


def _rate(by_system: Results, system: str, key: str) -> float | None:
    result = by_system.get(system, {}).get(key)
    if not result or result.get("status") != "ok" or not result.get("per_s"):
        return None
    return float(result["per_s"])


def combined(put: float | None, drain: float | None) -> float | None:
    """Jobs/s of put then claim+done, one job after the other."""
    if not put or not drain:
        return None
    return 1 / (1 / put + 1 / drain)


def lifecycle_ratios(rounds: Rounds, system: str, peer: str) -> list[float]:
    """Per round: *system*'s lifecycle rate over *peer*'s put+claim+done rate."""
    ratios = []
    for by_system in rounds:
        mine = _rate(by_system, system, "lifecycle")
        theirs = combined(_rate(by_system, peer, "put"), _rate(by_system, peer, "drain"))
        if mine is not None and theirs is not None:
            ratios.append(mine / theirs)
    return ratios


def _ratio_verdict(target: str, required: float, ratios: list[float], scale: str) -> Verdict:
    need = f"≥ {required:.1f}{scale}"
    if not ratios:
        return Verdict(target, need, "not measured", None)
    median = statistics.median(ratios)
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    count = f"{len(ratios)} round" + ("s" if len(ratios) > 1 else "")
    return Verdict(target, need, f"**{median:.2f}**{scale} (median of {count}: {rounds})",
                   median >= required)


def _each(results: Results, systems: tuple[str, ...], key: str,
          show: Callable[[Result], tuple[str, bool]]) -> tuple[str, bool | None]:
    """Join *show* over the systems' results for *key*; met only if all are met."""
    parts, met = [], []
    for system in systems:
        result = results.get(system, {}).get(key)
        if not result or result.get("status") == "error":
            continue
        try:
            text, ok = show(result)
        except (KeyError, TypeError, ZeroDivisionError, IndexError):
            continue
        if result.get("status") == "timeout":
            text, ok = f"{text} (timeout)", False
        parts.append(f"{system}: {text}")
        met.append(ok)
    if not parts:
        return "not measured", None
    return "; ".join(parts), all(met)


FSJOBSTORE = ("fsjobstore", "fsjobstore-nondurable")


def judge(results: Results, rounds: Rounds, procs: int) -> list[Verdict]:
    """Every target of issue 5, with what this run measured for it."""
    verdicts = [
        _ratio_verdict("`durable=False` lifecycle vs dirq-simple put+claim+done", 1.0,
                       lifecycle_ratios(rounds, "fsjobstore-nondurable", "dirq-simple"), "×"),
        _ratio_verdict("durable lifecycle vs raw floor put+claim+done", 0.5,
                       lifecycle_ratios(rounds, "fsjobstore", "raw-floor"), "×"),
    ]

    def scaling(r: Result) -> tuple[str, bool]:
        one = results[r["system"]]["drain"]["per_s"]
        ratio = r["per_s"] / one
        exact = r["done_twice"] == 0 and r["never_done"] == 0
        return (f"{ratio:.2f}×, {r['done_twice']} done twice / {r['never_done']} never",
                ratio >= 1.5 and exact)

    tagged = {s: {k: {**r, "system": s} for k, r in by_key.items()} for s, by_key in results.items()}
    text, met = _each(tagged, FSJOBSTORE, "parallel", scaling)
    verdicts.append(Verdict(f"{procs}-process drain vs one process", "≥ 1.5×, none lost or twice",
                            text, met))
    text, met = _each(results, FSJOBSTORE, "claim",
                      lambda r: (f"{r['ratio']:.2f}", r["ratio"] <= 1.2))
    verdicts.append(Verdict("claim cost at the large backlog vs the small", "≤ 1.2×", text, met))
    text, met = _each(results, FSJOBSTORE, "wakeup",
                      lambda r: (f"{r['p50_ms']:.1f} ms", r["p50_ms"] < 5))
    verdicts.append(Verdict("wake-up p50 with watchdog", "< 5 ms", text, met))

    def flat(r: Result) -> tuple[str, bool]:
        samples = r["samples"]
        growth = samples[-1][1] - samples[min(1, len(samples) - 1)][1]
        return (f"{samples[0][1] / 1024:.1f} → {samples[-1][1] / 1024:.1f} MiB "
                f"(+{growth:,} KiB after the first sample)", growth <= RSS_SLACK_KIB)

    text, met = _each(results, ("fsjobstore",), "rss", flat)
    verdicts.append(Verdict("worker peak RSS while draining", f"flat (≤ {RSS_SLACK_KIB:,} KiB growth)",
                            text, met))
    return verdicts


def table(verdicts: list[Verdict]) -> str:
    lines = ["| target | required | measured | met |", "|---|---|---|---|"]
    for v in verdicts:
        met = "—" if v.met is None else ("yes" if v.met else "**no**")
        lines.append(f"| {v.target} | {v.required} | {v.measured} | {met} |")
    return "\n".join(lines)
