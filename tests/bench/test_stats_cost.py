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
