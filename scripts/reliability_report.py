"""Regenerate docs/reliability.md: run the reliability tests and tabulate them.

Usage: python scripts/reliability_report.py  (or `make reliability`)

Each test may say what it injects and how many cases it ran with pytest's
``record_property("injects", ...)`` and ``record_property("cases", n)``; without
them the first line of its docstring is used and one case is counted.
"""

from __future__ import annotations

import ast
import os
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each file, and the class of trouble it injects (counted apart in the report).
CLASSES = {
    "tests/reliability/test_crash_points.py": "crash (kill -9) at every filesystem call",
    "tests/reliability/test_faults.py": "injected ENOSPC, EIO and ESTALE at every step",
    "tests/reliability/test_full_disk.py": "a real full or read-only filesystem (1 MiB tmpfs)",
    "tests/reliability/test_clocks.py": "clock skew: a second process hours ahead or behind (libfaketime)",
    "tests/reliability/test_races.py": "thread and process races inside one store",
    "tests/reliability/test_chaos.py": "random kills of worker processes",
    "tests/reliability/test_multiprocess.py": "several processes on one store",
    "tests/reliability/test_two_hosts.py": "two mounts with client caches (FUSE), as two NFS clients",
    "tests/store/test_bad_input.py": "hostile input",
    "tests/store/test_security.py": "hostile neighbours: symlinks, planted files, a second user",
    "tests/store/test_check.py": "corrupt and stray files for check --repair",
}
FILES = list(CLASSES)


def docstrings(path: str) -> dict[str, str]:
    """First docstring line of each test function in *path*."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            doc = ast.get_docstring(node) or ""
            found[node.name] = doc.strip().splitlines()[0] if doc.strip() else node.name.replace("_", " ")
    return found


def main() -> int:
    files = [f for f in FILES if os.path.exists(os.path.join(ROOT, f))]
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = os.path.join(tmp, "junit.xml")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml_path}", *files],
            cwd=ROOT,
        )
        tree = ET.parse(xml_path)
    docs = {f: docstrings(f) for f in files}
    rows = []
    totals = {"cases": 0, "passed": 0, "failed": 0, "skipped": 0}
    per_class = {f: [0, 0] for f in files}  # tests, cases
    for case in tree.iter("testcase"):
        name = case.get("name", "")
        module = case.get("classname", "").replace(".", "/") + ".py"
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        base = name.split("[")[0]
        injects = props.get("injects") or docs.get(module, {}).get(base, base)
        cases = int(props.get("cases") or 1)
        if case.find("failure") is not None or case.find("error") is not None:
            result = "FAILED"
            totals["failed"] += 1
        elif (skipped := case.find("skipped")) is not None:
            message = skipped.get("message") or ""
            result = "known gap (xfail)" if skipped.get("type") == "pytest.xfail" or "xfail" in message else (
                "skipped: " + message[:60])
            totals["skipped"] += 1
        else:
            result = "passed"
            totals["passed"] += 1
        totals["cases"] += cases
        if module in per_class:
            per_class[module][0] += 1
            per_class[module][1] += cases
        rows.append(f"| `{os.path.basename(module)}::{name}` | {injects} | {cases} | {result} | {float(case.get('time', 0)):.1f} s |")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Reliability report",
        "",
        f"Generated {stamp} on {platform.node()} ({platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs) by `make reliability`.",
        "",
        f"**{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped or known gaps; "
        f"{totals['cases']} injected cases in all.**",
        "",
        "| class | file | tests | cases |",
        "|---|---|---:|---:|",
        *(f"| {CLASSES[f]} | `{f}` | {n} | {c} |" for f, (n, c) in per_class.items()),
        "",
        "| test | what it injects or checks | cases | result | time |",
        "|---|---|---:|---|---:|",
        *rows,
        "",
    ]
    with open(os.path.join(ROOT, "docs", "reliability.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print(f"wrote docs/reliability.md: {totals}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
