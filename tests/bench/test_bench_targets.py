"""benchmarks/targets.py: issue 5's targets judged from a run's results."""
from __future__ import annotations

import copy

import pytest

from benchmarks import targets
from benchmarks.targets import Verdict, combined, judge, lifecycle_ratios


def _ok(per_s: float) -> dict[str, object]:
    return {"status": "ok", "per_s": per_s}


def _round(nd_life: float, dirq_put: float, dirq_drain: float,
           d_life: float, floor_put: float, floor_drain: float) -> targets.Results:
    return {
        "fsjobstore": {"lifecycle": _ok(d_life)},
        "fsjobstore-nondurable": {"lifecycle": _ok(nd_life)},
        "dirq-simple": {"put": _ok(dirq_put), "drain": _ok(dirq_drain)},
        "raw-floor": {"put": _ok(floor_put), "drain": _ok(floor_drain)},
    }


def _main_table(parallel: float = 1600.0, twice: int = 0, claim_ratio: float = 1.1,
                p50: float = 2.0, rss_end_kib: int = 29_000) -> targets.Results:
    per_system = {
        "drain": _ok(1000.0),
        "parallel": {"status": "ok", "per_s": parallel, "done_twice": twice, "never_done": 0},
        "claim": {"status": "ok", "ratio": claim_ratio},
        "wakeup": {"status": "ok", "p50_ms": p50, "mode": "watchdog + 1 s poll"},
    }
    return {
        "fsjobstore": {**copy.deepcopy(per_system), "rss": {"status": "ok", "samples": [
            [0, 28_000, 20_000], [10_000, 28_900, 21_000], [100_000, rss_end_kib, 21_000]]}},
        "fsjobstore-nondurable": copy.deepcopy(per_system),
    }


def _by_target(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.target: v for v in verdicts}


def test_combined_rate_is_put_then_drain_one_after_the_other() -> None:
    assert combined(2000.0, 2000.0) == pytest.approx(1000.0)
    assert combined(3000.0, 1500.0) == pytest.approx(1000.0)
    assert combined(None, 100.0) is None
    assert combined(100.0, 0.0) is None


def test_lifecycle_ratio_is_taken_within_each_round() -> None:
    rounds = [_round(1000, 2000, 2000, 0, 1, 1), _round(600, 3000, 1500, 0, 1, 1)]
    ratios, dropped = lifecycle_ratios(rounds, "fsjobstore-nondurable", "dirq-simple")
    assert ratios == pytest.approx([1.0, 0.6]) and dropped == 0


def test_a_round_whose_peer_did_not_finish_is_left_out_and_counted() -> None:
    good = _round(1000, 2000, 2000, 500, 2000, 2000)
    timed_out = _round(1000, 2000, 2000, 500, 2000, 2000)
    timed_out["dirq-simple"]["drain"]["status"] = "timeout"
    failed = _round(1000, 2000, 2000, 500, 2000, 2000)
    failed["raw-floor"]["put"] = {"status": "error", "error": "boom"}
    rounds = [good, timed_out, failed]
    assert lifecycle_ratios(rounds, "fsjobstore-nondurable", "dirq-simple") == (pytest.approx([1.0, 1.0]), 1)
    assert lifecycle_ratios(rounds, "fsjobstore", "raw-floor") == (pytest.approx([0.5, 0.5]), 1)
    verdict = _by_target(judge(_main_table(), rounds, 4))["durable lifecycle vs raw floor put+claim+done"]
    assert "1 left out: the peer's run did not finish" in verdict.measured


@pytest.mark.parametrize("failure", [{"status": "timeout", "per_s": 300.0}, {"status": "error", "error": "boom"}])
def test_a_round_whose_own_lifecycle_did_not_finish_is_missed(failure: dict[str, object]) -> None:
    rounds = [_round(1100, 2000, 2000, 600, 2000, 2000) for _ in range(3)]
    for bad in rounds[:2]:
        bad["fsjobstore-nondurable"]["lifecycle"] = dict(failure)
    ratios, dropped = lifecycle_ratios(rounds, "fsjobstore-nondurable", "dirq-simple")
    assert ratios == pytest.approx([0.0, 0.0, 1.1]) and dropped == 0
    verdict = _by_target(judge(_main_table(), rounds, 4))["`durable=False` lifecycle vs dirq-simple put+claim+done"]
    assert verdict.met is False and "missed, missed, 1.10" in verdict.measured


def test_a_median_just_below_the_target_is_not_shown_as_equal_to_it() -> None:
    rounds = [_round(996, 2000, 2000, 500, 2000, 2000)]  # 0.996x
    verdict = _by_target(judge(_main_table(), rounds, 4))["`durable=False` lifecycle vs dirq-simple put+claim+done"]
    assert verdict.met is False and "**0.996**×" in verdict.measured


def test_lifecycle_targets_are_judged_on_the_median_round() -> None:
    rounds = [_round(900, 2000, 2000, 400, 2000, 2000),    # 0.9x, 0.4x
              _round(1100, 2000, 2000, 520, 2000, 2000),   # 1.1x, 0.52x
              _round(1050, 2000, 2000, 510, 2000, 2000)]   # 1.05x, 0.51x
    verdicts = _by_target(judge(_main_table(), rounds, 4))
    nondurable = verdicts["`durable=False` lifecycle vs dirq-simple put+claim+done"]
    assert nondurable.met is True
    assert "**1.05**×" in nondurable.measured and "0.90, 1.10, 1.05" in nondurable.measured
    durable = verdicts["durable lifecycle vs raw floor put+claim+done"]
    assert durable.met is True and "**0.51**×" in durable.measured


def test_a_lifecycle_target_missed_in_the_median_round_is_not_met() -> None:
    rounds = [_round(700, 2000, 2000, 400, 2000, 2000), _round(1200, 2000, 2000, 450, 2000, 2000),
              _round(800, 2000, 2000, 600, 2000, 2000)]
    verdicts = _by_target(judge(_main_table(), rounds, 4))
    assert verdicts["`durable=False` lifecycle vs dirq-simple put+claim+done"].met is False
    assert verdicts["durable lifecycle vs raw floor put+claim+done"].met is False


def test_targets_without_measurements_say_so() -> None:
    verdicts = judge({}, [], 4)
    assert all(v.met is None and v.measured == "not measured" for v in verdicts)
    assert "| — |" in targets.table(verdicts)


def test_main_table_targets_met() -> None:
    verdicts = _by_target(judge(_main_table(), [], 4))
    assert verdicts["4-process drain vs one process"].met is True
    assert "1.60×, 0 done twice / 0 never" in verdicts["4-process drain vs one process"].measured
    assert verdicts["claim cost at the large backlog vs the small"].met is True
    assert verdicts["wake-up p50 with watchdog"].met is True
    assert verdicts["worker peak RSS while draining"].met is True


@pytest.mark.parametrize(("change", "target"), [
    ({"parallel": 1400.0}, "4-process drain vs one process"),
    ({"twice": 1}, "4-process drain vs one process"),
    ({"claim_ratio": 1.3}, "claim cost at the large backlog vs the small"),
    ({"p50": 5.0}, "wake-up p50 with watchdog"),
    ({"rss_end_kib": 28_900 + targets.RSS_SLACK_KIB + 1}, "worker peak RSS while draining"),
])
def test_main_table_targets_missed(change: dict[str, float], target: str) -> None:
    verdict = _by_target(judge(_main_table(**change), [], 4))[target]  # type: ignore[arg-type]
    assert verdict.met is False
    assert "**no**" in targets.table([verdict])


@pytest.mark.parametrize("system", ["fsjobstore", "fsjobstore-nondurable"])
@pytest.mark.parametrize(("key", "target"), [
    ("parallel", "4-process drain vs one process"),
    ("claim", "claim cost at the large backlog vs the small"),
    ("wakeup", "wake-up p50 with watchdog"),
])
@pytest.mark.parametrize("broken", [
    {"status": "timeout"}, {"status": "error", "error": "boom"}, None, {"status": "ok"},
])
def test_one_system_that_did_not_finish_or_run_fails_a_target_the_other_meets(
    system: str, key: str, target: str, broken: dict[str, object] | None
) -> None:
    results = _main_table()
    if broken is None:
        del results[system][key]
    else:
        results[system][key] = dict(broken)  # ("ok" without its numbers: incomplete)
    verdict = _by_target(judge(results, [], 4))[target]
    assert verdict.met is False, verdict
    assert f"{system}: " in verdict.measured
    other = "fsjobstore-nondurable" if system == "fsjobstore" else "fsjobstore"
    untouched = _by_target(judge(_main_table(), [], 4))[target]
    assert untouched.met is True and f"{other}: " in untouched.measured


def test_a_parallel_drain_is_judged_against_a_one_process_drain_that_finished() -> None:
    results = _main_table()
    results["fsjobstore"]["drain"] = {"status": "timeout", "per_s": 500.0}
    verdict = _by_target(judge(results, [], 4))["4-process drain vs one process"]
    assert verdict.met is False and "its one-process drain did not finish" in verdict.measured


def test_a_wake_up_by_polling_does_not_meet_the_watchdog_target() -> None:
    results = _main_table(p50=1.0)
    results["fsjobstore"]["wakeup"]["mode"] = "polling every 1000 ms (watchdog failed: EMFILE)"
    verdict = _by_target(judge(results, [], 4))["wake-up p50 with watchdog"]
    assert verdict.met is False and "watchdog failed" in verdict.measured


def test_too_few_rss_samples_do_not_show_flat() -> None:
    results = _main_table()
    results["fsjobstore"]["rss"]["samples"] = [[0, 28_000, 20_000]]
    verdict = _by_target(judge(results, [], 4))["worker peak RSS while draining"]
    assert verdict.met is False and "too few" in verdict.measured
