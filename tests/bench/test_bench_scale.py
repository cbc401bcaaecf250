"""benchmarks/scale.py --quick: builds its stores once under --cache, reuses them, and
prints every target of issue 15 (4 and 5) with what it measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("claim cost", "stats in one process", "first page of ls", "next page", "get(id)",
           "`fsjobstore stats`", "`fsjobstore ls", "purge, expired jobs per second", "RSS growth")


def _run(cache: Path) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--quick", "--rounds", "2",
                             "--cache", str(cache)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_scale_workload_builds_once_and_prints_every_target(tmp_path: Path) -> None:
    first = _run(tmp_path)
    for target in TARGETS:
        assert target in first, f"{target!r} missing from:\n{first}"
    built = (tmp_path / "quick" / "big" / "complete").read_text()
    second = _run(tmp_path)
    assert (tmp_path / "quick" / "big" / "complete").read_text() == built, "the big store was built again"
    assert f"({built.strip()})" in second
    rows = [line for line in second.splitlines() if line.rstrip().endswith((" yes", " NO"))]
    assert len(rows) >= len(TARGETS)
