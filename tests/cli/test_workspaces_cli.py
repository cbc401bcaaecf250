"""`work --workspaces` gives each run its folder in $FSJOBSTORE_WORKSPACE; `show` lists
the workspace's files and marks the result."""

from __future__ import annotations

import json
from pathlib import Path

from clihelpers import fsj, ok

from fsjobstore import JobStore


def test_a_command_writes_its_result_in_its_workspace_and_show_lists_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok(fsj("init", str(store)))
    with JobStore(store) as opened:
        staged = opened.workspaces.stage()
        Path(staged, "in.txt").write_text("abc")
        job_id = opened.workspaces.create(staged, None).id
    script = 'rev "$FSJOBSTORE_WORKSPACE/../../input/in.txt" > "$FSJOBSTORE_WORKSPACE/out.txt"'
    ok(fsj("work", "--workspaces", "--burst", "--", "sh", "-c", script, store=store))
    shown = ok(fsj("show", job_id, store=store)).splitlines()
    at = shown.index(next(line for line in shown if line.startswith("workspace:")))
    files = [line.strip() for line in shown[at + 1:]]
    assert len(files) == 2 and files[0].startswith("attempts/1-") and files[0].endswith("/out.txt (result)")
    assert files[1] == "input/in.txt"
    workspace = json.loads(ok(fsj("show", "--json", job_id, store=store)))["workspace"]
    assert Path(workspace["result"], "out.txt").read_text() == "cba"
    assert workspace["input"] == str(store / "workspaces" / job_id / "input")
