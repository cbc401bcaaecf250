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
    """The run's jobs/s if it finished ("ok"); None if it failed, was cut short or is missing."""
    result = by_system.get(system, {}).get(key)
    if not result or result.get("status") != "ok" or not result.get("per_s"):
        return None
    return float(result["per_s"])


def combined(put: float | None, drain: float | None) -> float | None:
    """Jobs/s of put then claim+done, one job after the other."""
    if not put or not drain:
        return None
    return 1 / (1 / put + 1 / drain)


def lifecycle_ratios(rounds: Rounds, system: str, peer: str) -> tuple[list[float], int]:
    """Per round: *system*'s lifecycle rate over *peer*'s put+claim+done rate, and
    how many rounds were left out because the peer's side did not finish. A round
    in which *system*'s own side failed or was cut short counts as 0 (missed)."""
    ratios, dropped = [], 0
    for by_system in rounds:
        theirs = combined(_rate(by_system, peer, "put"), _rate(by_system, peer, "drain"))
        if theirs is None:
            dropped += 1
            continue
        mine = _rate(by_system, system, "lifecycle")
        ratios.append(0.0 if mine is None else mine / theirs)
    return ratios, dropped


def _shown(value: float, required: float, met: bool) -> str:
    """Two decimals, or three where two would hide which side of *required* it is."""
    text = f"{value:.2f}"
    return f"{value:.3f}" if not met and text == f"{required:.2f}" else text


def _ratio_verdict(target: str, required: float, measured: tuple[list[float], int]) -> Verdict:
    ratios, dropped = measured
    need = f"≥ {required:.1f}×"
    left_out = f"; {dropped} left out: the peer's run did not finish" if dropped else ""
    if not ratios:
        return Verdict(target, need, "not measured" + left_out, None)
    median = statistics.median(ratios)
    met = median >= required
    rounds = ", ".join("missed" if r == 0 else _shown(r, required, r >= required) for r in ratios)
    count = f"{len(ratios)} round" + ("s" if len(ratios) > 1 else "")
    return Verdict(target, need, f"**{_shown(median, required, met)}**× (median of {count}: {rounds}{left_out})",
                   met)


def _each(results: Results, systems: tuple[str, ...], key: str,
          show: Callable[[str, Result], tuple[str, bool]]) -> tuple[str, bool | None]:
    """Join *show* over the systems' results for *key*; met only if every system
    ran, finished and met it. None (not measured) if none of them ran."""
    if not any(key in results.get(system, {}) for system in systems):
        return "not measured", None
    parts, met = [], []
    for system in systems:
        result = results.get(system, {}).get(key)
        if result is None:
            text, ok = "not run", False
        elif result.get("status") != "ok":
            text, ok = str(result.get("status", "error")), False
        else:
            try:
                text, ok = show(system, result)
            except (KeyError, TypeError, ZeroDivisionError, IndexError) as exc:
                text, ok = f"incomplete ({type(exc).__name__}: {exc})", False
        parts.append(f"{system}: {text}")
        met.append(ok)
    return "; ".join(parts), all(met)


FSJOBSTORE = ("fsjobstore", "fsjobstore-nondurable")


def judge(results: Results, rounds: Rounds, procs: int) -> list[Verdict]:
    """Every target of issue 5, with what this run measured for it."""
    verdicts = [
        _ratio_verdict("`durable=False` lifecycle vs dirq-simple put+claim+done", 1.0,
                       lifecycle_ratios(rounds, "fsjobstore-nondurable", "dirq-simple")),
        _ratio_verdict("durable lifecycle vs raw floor put+claim+done", 0.5,
                       lifecycle_ratios(rounds, "fsjobstore", "raw-floor")),
    ]

    def scaling(system: str, r: Result) -> tuple[str, bool]:
        one = _rate(results, system, "drain")
        if one is None:
            return "its one-process drain did not finish", False
        ratio = r["per_s"] / one
        exact = r["done_twice"] == 0 and r["never_done"] == 0
        return (f"{ratio:.2f}×, {r['done_twice']} done twice / {r['never_done']} never",
                ratio >= 1.5 and exact)

    text, ok = _each(results, FSJOBSTORE, "parallel", scaling)
    verdicts.append(Verdict(f"{procs}-process drain vs one process", "≥ 1.5×, none lost or twice", text, ok))
    text, ok = _each(results, FSJOBSTORE, "claim", lambda _, r: (f"{r['ratio']:.2f}", r["ratio"] <= 1.2))
    verdicts.append(Verdict("claim cost at the large backlog vs the small", "≤ 1.2×", text, ok))

    def woken(_: str, r: Result) -> tuple[str, bool]:
        watched = str(r["mode"]).startswith("watchdog")
        text = f"{r['p50_ms']:.1f} ms" + ("" if watched else f" ({r['mode']})")
        return text, watched and r["p50_ms"] < 5

    text, ok = _each(results, FSJOBSTORE, "wakeup", woken)
    verdicts.append(Verdict("wake-up p50 with watchdog", "< 5 ms", text, ok))

    def flat(_: str, r: Result) -> tuple[str, bool]:
        samples = r["samples"]
        if len(samples) < 3:
            return f"{len(samples)} samples: too few to tell", False
        growth = samples[-1][1] - samples[1][1]
        return (f"{samples[0][1] / 1024:.1f} → {samples[-1][1] / 1024:.1f} MiB "
                f"(+{growth:,} KiB after the first sample)", growth <= RSS_SLACK_KIB)

    text, ok = _each(results, ("fsjobstore",), "rss", flat)
    verdicts.append(Verdict("worker peak RSS while draining", f"flat (≤ {RSS_SLACK_KIB:,} KiB growth)",
                            text, ok))
    return verdicts


def table(verdicts: list[Verdict]) -> str:
    lines = ["| target | required | measured | met |", "|---|---|---|---|"]
    for v in verdicts:
        met = "—" if v.met is None else ("yes" if v.met else "**no**")
        lines.append(f"| {v.target} | {v.required} | {v.measured} | {met} |")
    return "\n".join(lines)
