"""benchmarks/dashboard_pages.py on a small store: it builds the store, serves it,
and prints every measurement, each page full (it checks that itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("first page, any state", "next page, any state", "first page, failed", "next page, failed",
        "first page, task mail", "first page, q=boom", "next page, q=boom", "first page by reading every job",
        "q= matching nothing", "sort=-updated", "/api/stats/tasks", "per-task census")


def test_the_dashboard_pages_benchmark_prints_every_measurement(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dashboard_pages.py"), "--resolved", "1000",
                             "--pending", "50", "--rounds", "1", "--cache", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for row in ROWS:
        line = next((line for line in result.stdout.splitlines() if line.startswith(row)), None)
        assert line is not None and line.rstrip().endswith("ms"), f"{row!r} missing from:\n{result.stdout}"
