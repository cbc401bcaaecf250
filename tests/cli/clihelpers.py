"""Running the `fsjobstore` command line as real subprocesses, and watching the processes it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loophelpers import wait_for


def cli_env(store: Path | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FSJOBSTORE_DIR"}
    if store is not None:
        env["FSJOBSTORE_DIR"] = str(store)
    env.update(extra or {})
    return env


def fsj(*args: str, store: Path | None = None, cwd: Path | None = None, timeout: float = 30,
        env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m fsjobstore ARGS` (with FSJOBSTORE_DIR=store if given) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "fsjobstore", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env=cli_env(store, env), input=stdin,
    )


def popen(*args: str, store: Path | None = None, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fsjobstore", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=cli_env(store, env),
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def assert_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit status != 0, and exactly one line on stderr: `fsjobstore: error: ...`, no traceback."""
    assert result.returncode != 0, f"succeeded: {result.stdout!r}"
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("fsjobstore: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 5.0) -> tuple[int, str, str, float]:
    """Send *sig*; return (exit status, stdout, stderr, seconds it took to exit)."""
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"did not exit within {timeout} s of signal {sig}: {err}") from None
    return proc.returncode, out, err, time.monotonic() - sent


def read_pid(path: Path) -> int:
    wait_for(lambda: path.exists() and path.read_text().strip(), timeout=20, what=f"{path.name}")
    return int(path.read_text())
