"""benchmarks/lifecycle_cost.py and the floor it compares the durable lifecycle with."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.adapters.base import make_job
from benchmarks.adapters.raw_floor import RawFloorKept
from benchmarks.lifecycle_cost import speed_rounds, strace_counts

STRACE_C = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 30.00    0.000300           1       300        12 openat
 10.00    0.000100           1       100           close
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           2       400        12 total
"""


def test_strace_summaries_are_read_by_call_name() -> None:
    assert strace_counts(STRACE_C) == {"openat": 300, "close": 100}


@pytest.mark.parametrize("durable", [True, False])
def test_the_floor_keeps_each_result_and_leaves_no_lease(tmp_path: Path, durable: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RawFloorKept, "durable", durable)
    floor = RawFloorKept(tmp_path)
    for seq in range(3):
        floor.put(make_job(seq))
        claimed = floor.claim()
        assert claimed is not None and claimed.job["seq"] == seq
        floor.done(claimed)
    assert floor.claim() is None
    floor.close()
    assert len(os.listdir(tmp_path / "resolved")) == 3
    assert os.listdir(tmp_path / "pending") == os.listdir(tmp_path / "leases") == os.listdir(tmp_path / "tmp") == []


def test_speed_rounds_give_one_ratio_per_round(tmp_path: Path) -> None:
    ratios = speed_rounds("fsjobstore", "raw-floor-kept", str(tmp_path), 20, 2, durable=False,
                          checkout=Path(__file__).resolve().parents[2])
    assert len(ratios) == 2 and all(r > 0 for r in ratios)
