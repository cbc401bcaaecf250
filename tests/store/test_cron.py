"""When schedules tick: cron expressions in a time zone (DST included) and intervals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fsjobstore._store.cron import Cron, Every


def ms(*fields: int) -> int:
    return round(datetime(*fields, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def test_fields_ranges_steps_lists_and_names() -> None:
    cron = Cron("*/15 9-17 * * mon-fri", "Europe/Paris")
    # Friday 4 Dec 2026, 17:50 in Paris: the next is Monday 09:00 (08:00 UTC).
    assert cron.after(ms(2026, 12, 4, 16, 50)) == ms(2026, 12, 7, 8, 0)
    assert cron.at_or_before(ms(2026, 12, 4, 16, 50)) == ms(2026, 12, 4, 16, 45)
    assert Cron("5,10 0 1 jan,jul *").after(ms(2026, 1, 1, 0, 5)) == ms(2026, 1, 1, 0, 10)
    assert Cron("5,10 0 1 jan,jul *").after(ms(2026, 1, 1, 0, 10)) == ms(2026, 7, 1, 0, 5)
    assert Cron("0 12 * * 7").after(ms(2026, 12, 3)) == ms(2026, 12, 6, 12)  # 7 is Sunday too


def test_macros_and_rare_days() -> None:
    start = ms(2026, 12, 3, 2, 0)
    assert Cron("@hourly").after(start) == ms(2026, 12, 3, 3)
    assert Cron("@daily").after(start) == ms(2026, 12, 4)
    assert Cron("@weekly").after(start) == ms(2026, 12, 6)
    assert Cron("@monthly").after(start) == ms(2027, 1, 1)
    assert Cron("@yearly").after(start) == ms(2027, 1, 1)
    assert Cron("0 0 29 2 *").after(start) == ms(2028, 2, 29)
    assert Cron("0 0 29 2 *").at_or_before(start) == ms(2024, 2, 29)


def test_both_day_fields_restricted_means_either() -> None:
    cron = Cron("0 0 13 * fri")  # the 13th, and every Friday (Vixie cron)
    assert cron.after(ms(2026, 12, 3)) == ms(2026, 12, 4)  # a Friday
    assert cron.after(ms(2026, 12, 11)) == ms(2026, 12, 13)  # a Sunday, the 13th


def test_a_local_time_skipped_by_dst_has_no_tick_and_a_repeated_one_ticks_once() -> None:
    paris = Cron("30 2 * * *", "Europe/Paris")  # 2:30 does not exist on 29 March 2026
    assert paris.after(ms(2026, 3, 28, 12)) == ms(2026, 3, 30, 0, 30)
    york = Cron("30 1 * * *", "America/New_York")  # 1:30 happens twice on 1 November 2026
    first = york.after(ms(2026, 11, 1, 4))
    assert first == ms(2026, 11, 1, 5, 30)
    assert york.after(first) == ms(2026, 11, 2, 6, 30)
    assert york.at_or_before(ms(2026, 11, 1, 6, 45)) == first


def test_intervals_are_aligned_to_the_epoch() -> None:
    hourly = Every(3_600_000)
    assert hourly.after(ms(2026, 12, 3, 2, 10)) == ms(2026, 12, 3, 3)
    assert hourly.after(ms(2026, 12, 3, 3)) == ms(2026, 12, 3, 4)
    assert hourly.at_or_before(ms(2026, 12, 3, 3)) == ms(2026, 12, 3, 3)


@pytest.mark.parametrize("expression, problem", [
    ("* * * *", "has 4 fields"),
    ("61 * * * *", "minute '61' is not a number from 0 to 59"),
    ("* * * foo *", "month 'foo'"),
    ("*/0 * * * *", "step '0'"),
    ("5-1 * * * *", "runs backwards"),
    ("0 0 30 2 *", "never matches"),
])
def test_bad_expressions_are_refused_naming_the_problem(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Cron(expression)


def test_unknown_zones_and_short_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        Cron("@daily", "Mars/Base")
    with pytest.raises(ValueError, match="at least 1 second"):
        Every(500)
