"""A bounded run of benchmarks/http_load.py: a server, 2 worker processes and a
producer over HTTP, 500 jobs, the server SIGKILLed mid-run and restarted. Nothing
lost, nothing resolved twice, workers carry on against the restarted server."""

from __future__ import annotations

import json
import subprocess
import sys

from httpfixtures import ROOT


def test_500_jobs_over_http_through_a_server_kill_and_restart() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "http_load.py"), "--jobs", "500", "--restart", "--lease", "2",
         "--timeout", "90"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )
    report = json.loads(done.stdout)
    assert (report["lost"], report["fulfilled_twice"], report["committed_twice"]) == (0, 0, 0), report
    assert report["restarted_after_fulfilled"] is not None, "the server was killed and restarted mid-run"
    assert report["unreachable_pulls"] > 0, "workers saw the server gone and reconnected"
    assert done.returncode == 0
