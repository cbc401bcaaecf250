"""benchmarks/stats_cost.py --quick: times counting and first pages on scale.py's
quick stores, for the checkout given, and prints every measurement."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("`fsjobstore stats`, big store", "`fsjobstore stats`, big minus small", "stats(), new object, nothing changed",
        "stats() after 20 pulled and fulfilled", "first page, pending, task encode", "first page, fulfilled")


def test_the_stats_workload_prints_every_measurement(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "stats_cost.py"), "--quick", "--rounds", "1",
                             "--cache", str(tmp_path), "--checkout", str(ROOT)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    for row in ROWS:
        assert re.search(rf"^{re.escape(row)} +-?\d+\.\d \( *-?\d+\.\d\)$", result.stdout, re.M), (row, result.stdout)


def test_each_checkout_may_have_a_store_of_its_own_and_a_count_must_match(tmp_path: Path) -> None:
    run = [sys.executable, str(ROOT / "benchmarks" / "stats_cost.py"), "--quick", "--rounds", "2",
           "--checkout", str(ROOT), "--checkout", str(ROOT)]
    mismatched = subprocess.run([*run, "--cache", str(tmp_path / "a"), "--cache", str(tmp_path / "b"),
                                 "--cache", str(tmp_path / "c")], capture_output=True, text=True, timeout=600)
    assert mismatched.returncode == 2 and "one --cache for all checkouts or one per checkout, not 3" in (
        mismatched.stderr)
    result = subprocess.run([*run, "--cache", str(tmp_path / "a"), "--cache", str(tmp_path / "b")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert all((tmp_path / cache / "quick" / "big" / "store").is_dir() for cache in "ab")


def test_the_pending_workload_compares_two_checkouts_each_on_its_store(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.scale import stores

    big, _ = stores(True, str(tmp_path))
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pending_cost.py"), "2", str(ROOT), str(big),
                             str(ROOT), str(big)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for row in ("pending count after 20 pulled and fulfilled", "first page, pending, task encode"):
        assert re.search(rf"^{re.escape(row)} +before: \d+\.\d \(\d+\.\d\) +after: \d+\.\d \(\d+\.\d\)$",
                         result.stdout, re.M), (row, result.stdout)
