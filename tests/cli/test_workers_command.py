"""`fsjobstore workers`: running loops, and dead ones whose record stayed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import kill_leftovers


def _fsj(store: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "FSJOBSTORE_DIR"}
    return subprocess.Popen([sys.executable, "-m", "fsjobstore", "--store", str(store), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _listing(store: Path) -> list[dict[str, object]]:
    out, err = _fsj(store, "workers", "--json", "--watch", "0").communicate(timeout=30)
    assert "Traceback" not in err, err
    assert "Traceback" not in err
    return [json.loads(line) for line in out.splitlines()]


def test_workers_lists_a_running_worker_then_shows_it_dead_after_kill_9(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _fsj(store, "init").communicate(timeout=30)
    created = _fsj(store, "create", '"x"')
    job_id = created.communicate(timeout=30)[0].strip()
    pid_file = tmp_path / "command.pid"
    worker = _fsj(store, "work", "--task", "t", "--", "sh", "-c", f"echo $$ > {pid_file}; exec sleep 30")
    try:
        os.system(f"{sys.executable} -m fsjobstore --store {store} create '\"y\"' --task t >/dev/null 2>&1")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = _listing(store)
            if found and found[0]["current"]:
                break
            time.sleep(0.2)
        (info,) = found
        assert info["alive"] is True and info["pid"] == worker.pid and info["tasks"] == ["t"]
        assert info["current"] != [job_id]  # it takes only task t
        table = _fsj(store, "workers").communicate(timeout=30)[0]
        assert table.splitlines()[0].startswith("STATUS") and table.splitlines()[1].startswith("alive")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.communicate()  # (until its reaper, which shares its stderr, has stopped the command)
        if pid_file.exists():
            kill_leftovers(int(pid_file.read_text()))
    (dead,) = _listing(store)
    assert dead["alive"] is False and dead["pid"] == worker.pid
