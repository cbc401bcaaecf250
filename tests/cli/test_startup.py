"""What a command that only reads the store loads when it starts: not the loops
(threads, processes, watchdog), the HTTP client or server, nor time zones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clihelpers import cli_env, fsj, ok

import fsjobstore
from fsjobstore import JobStore

# Runs the command as `python -m fsjobstore` does, then prints on stderr every
# module the process had loaded when it exited.
_RUN_AND_LIST_MODULES = """
import atexit, json, runpy, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["fsjobstore", *sys.argv[1:]]
runpy.run_module("fsjobstore", run_name="__main__")
"""
_NOT_LOADED = ("fsjobstore.loops", "fsjobstore.http", "watchdog", "zoneinfo", "multiprocessing")


def _modules_of(store: Path, *args: str) -> tuple[str, list[str]]:
    result = subprocess.run([sys.executable, "-c", _RUN_AND_LIST_MODULES, *args], capture_output=True, text=True,
                            timeout=60, env=cli_env(store))
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(result.stderr.splitlines()[-1])


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    JobStore(path, create=True).close()
    return path


@pytest.mark.parametrize("args", [["stats"], ["ls", "--state", "pending"], ["show"]])
def test_reading_commands_load_no_loops_http_or_time_zones(store_dir: Path, args: list[str]) -> None:
    job_id = ok(fsj("create", '{"n": 1}', store=store_dir)).strip()
    output, modules = _modules_of(store_dir, *args, *([job_id] if args == ["show"] else []))
    assert job_id in output or "pending: 1" in output
    assert [m for m in modules if m.split(".")[0] in _NOT_LOADED or m.startswith(_NOT_LOADED)] == []


def test_the_loops_load_when_first_named() -> None:
    from fsjobstore import Backoff, Notifier, Worker
    from fsjobstore.loops import Worker as LoopsWorker

    assert Worker is LoopsWorker and Notifier.__name__ == "Notifier" and Backoff.__name__ == "Backoff"
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        fsjobstore.NoSuchThing  # noqa: B018
