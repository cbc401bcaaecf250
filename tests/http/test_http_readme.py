"""The README's curl session runs as written against a real server, and prints what
its comments say (up to the parts shortened with "...")."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from httpfixtures import ROOT

from fsjobstore import JobStore
from fsjobstore.http.server import Settings, background

SESSIONS = [block for block in re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
            if "curl " in block]


def test_the_curl_session_runs_as_written(tmp_path: Path) -> None:
    [session] = SESSIONS
    with JobStore(tmp_path / "store", create=True) as store, \
            background(store, Settings(token="s3cret", read_token="look")) as url:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", session.replace("http://127.0.0.1:8080", url)],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert store.get("01M8WFKPYVJG7KDDFFK8CCH5Y8").value == b"49"
    printed = [line[2:] for line in session.splitlines() if line.startswith(("# {", "# fsjobstore_"))]
    assert len(printed) == 5
    at = 0
    for line in printed:
        for part in filter(None, (p.strip(",") for p in line.split("..."))):
            found = done.stdout.find(part, at)
            assert found >= 0, f"{part!r} not printed after {done.stdout[:at]!r}: {done.stdout[at:]!r}"
            at = found + len(part)
