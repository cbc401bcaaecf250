"""`fsjobstore work -- COMMAND`: no part of a command outlives its run.

A command stopped for any reason (its timeout, the worker stopping, its job
cancelled) gets SIGTERM and then SIGKILL for its whole process group, and its
job's lease is released only once none of its processes runs. Real processes
throughout: the worker, the command, and a grandchild the command starts.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelpers import assert_error, assert_gone, fsj, kill_leftovers, ok, popen, read_pid, running, stop
from loophelpers import wait_for

from fsjobstore import JobStore

# Runs until stopped, with a grandchild in its process group. A "quick" request
# is done at once. SIGTERM is noted in $MARKS/signals; the command then takes a
# moment to clean up (noted in $MARKS/cleaned) and exits.
SLOW = """#!/bin/sh
request=$(cat)
case "$request" in *quick*) printf done; exit 0;; esac
trap 'echo TERM >> "$MARKS/signals"; sleep 0.5; echo yes > "$MARKS/cleaned"; exit 143' TERM
sleep 300 &
echo $! > "$MARKS/grandchild.pid"
echo $$ > "$MARKS/command.pid"
while :; do sleep 1; done
"""

# The same, but the command notes SIGTERM and goes on, and its grandchild ignores
# it: only the SIGKILL that follows stops them.
STUBBORN = """#!/bin/sh
cat > /dev/null
trap 'echo TERM >> "$MARKS/signals"' TERM
sh -c 'trap "" TERM; exec sleep 300' &
echo $! > "$MARKS/grandchild.pid"
echo $$ > "$MARKS/command.pid"
while :; do sleep 1; done
"""


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    JobStore(path, create=True).close()
    return path


@pytest.fixture
def marks(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "marks"
    folder.mkdir()
    yield folder
    kill_leftovers(*(int(p.read_text()) for p in folder.glob("*.pid") if p.read_text().strip()))


def _script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return f"./{name}"


def _worker(tmp_path: Path, store_dir: Path, marks: Path, script: str, *options: str) -> subprocess.Popen[str]:
    command = _script(tmp_path, "command.sh", script)
    return popen("work", "--poll-interval", "0.05", *options, "--", command, store=store_dir, cwd=tmp_path,
                 env={"MARKS": str(marks)})


def _started(marks: Path) -> tuple[int, int]:
    return read_pid(marks / "command.pid"), read_pid(marks / "grandchild.pid")


def _signals(marks: Path) -> list[str]:
    path = marks / "signals"
    return path.read_text().split() if path.exists() else []


def _finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str]:
    try:
        _out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def _pending_after_cleanup(store: JobStore, job_id: str, marks: Path) -> None:
    """Wait for the job's lease to be released; it must not be before the command finished."""
    def released() -> bool:
        if store.get(job_id).state == "running":
            return False
        assert (marks / "cleaned").exists(), "the lease was released while the command still ran"
        return True

    wait_for(released, timeout=20, what="the lease to be released")


# -- stopping the worker (#2) ------------------------------------------------------------------


def test_work_stopped_past_its_drain_timeout_terms_the_command_and_releases_the_job_after(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job_id = store.create({"slow": True}).id
        proc = _worker(tmp_path, store_dir, marks, SLOW, "--drain-timeout", "0.5", "--kill-grace", "20")
        try:
            command, grandchild = _started(marks)
            proc.send_signal(signal.SIGTERM)
            _pending_after_cleanup(store, job_id, marks)
        finally:
            status, err = _finish(proc)
        job = store.get(job_id)
    assert status == 0, err
    assert _signals(marks) == ["TERM"]
    assert_gone(command, grandchild)
    assert (job.state, job.attempts, job.error) == ("pending", 0, None), "a stopped job is not a failed attempt"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_work_stopped_twice_kills_the_command_at_once(
    tmp_path: Path, store_dir: Path, marks: Path, sig: int
) -> None:
    # The default drain timeout (30 s) and kill grace (10 s) are both longer
    # than the 10 s this test waits: the second signal must not wait for them.
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job_id = store.create({"slow": True}).id
        proc = _worker(tmp_path, store_dir, marks, STUBBORN)
        try:
            command, grandchild = _started(marks)
            proc.send_signal(sig)
            wait_for(lambda: "stopping after running work" in (proc.stderr.readline() if proc.stderr else ""),
                     timeout=10, what="the worker to take the first signal")
            status, _out, err, _took = stop(proc, sig, timeout=10)
        finally:
            _finish(proc)
        job = store.get(job_id)
    assert status == 0, err
    assert_gone(command, grandchild)
    assert (job.state, job.attempts) == ("pending", 0)


def test_notify_stopped_past_its_drain_timeout_terms_the_delivery_and_keeps_the_target_due(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job = store.create("x")
        store.queue(job.id, "a client")
        store.fulfill(job.id, "v")
        command = _script(tmp_path, "deliver.sh", SLOW)
        proc = popen("notify", "--poll-interval", "0.05", "--drain-timeout", "0.5", "--", command,
                     store=store_dir, cwd=tmp_path, env={"MARKS": str(marks)})
        try:
            pids = _started(marks)
            status, _out, err, _took = stop(proc, timeout=20)
        finally:
            _finish(proc)
        assert store.get(job.id).waiting == ("a client",), "an interrupted delivery is not a delivery"
    assert status == 0, err
    assert _signals(marks) == ["TERM"] and (marks / "cleaned").exists()
    assert_gone(*pids)


# -- --timeout (#3) ------------------------------------------------------------------------------


def test_work_timeout_terms_then_kills_the_whole_process_group(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job_id = store.create({"slow": True}).id
        proc = _worker(tmp_path, store_dir, marks, STUBBORN, "--timeout", "1", "--kill-grace", "3",
                       "--max-attempts", "1")
        try:
            command, grandchild = _started(marks)
            job = store.wait(job_id, timeout=20)
            status, _out, err, _took = stop(proc)
        finally:
            _finish(proc)
    assert status == 0, err
    assert (job.state, job.error) == ("failed", "command timed out after 1 s")
    assert _signals(marks) == ["TERM"], "SIGTERM first"
    assert not running(command) and not running(grandchild), "the job failed before its command was gone"


# -- cancel (#14) --------------------------------------------------------------------------------


def test_cancelling_a_running_job_stops_its_command_and_the_worker_goes_on(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job_id = store.create({"slow": True}, lease_seconds=1.0).id
        proc = _worker(tmp_path, store_dir, marks, SLOW)
        try:
            command, grandchild = _started(marks)
            assert ok(fsj("cancel", job_id, store=store_dir)).strip() == f"{job_id} cancelled"
            assert_gone(command, grandchild)
            quick = store.wait(store.create({"quick": True}).id, timeout=20)
            status, _out, err, _took = stop(proc)
        finally:
            _finish(proc)
        job = store.get(job_id)
    assert status == 0, err
    assert _signals(marks) == ["TERM"]
    assert (marks / "cleaned").exists()
    assert (job.state, job.attempts) == ("cancelled", 0)
    assert (quick.state, quick.value) == ("fulfilled", b"done")


# -- a command that cannot run (#6) ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "not-executable", "folder", "not-on-path"])
def test_work_refuses_to_start_with_a_command_that_cannot_run(tmp_path: Path, store_dir: Path, kind: str) -> None:
    command = {"missing": "./typo.sh", "not-executable": "./plain.sh", "folder": "./folder",
               "not-on-path": "no-such-command-anywhere"}[kind]
    (tmp_path / "plain.sh").write_text("#!/bin/sh\ncat\n")
    (tmp_path / "folder").mkdir()
    with JobStore(store_dir, create=True) as store:
        job_id = store.create("x").id
    result = fsj("work", "--poll-interval", "0.05", "--", command, store=store_dir, cwd=tmp_path, timeout=15)
    assert result.returncode == 1
    line = assert_error(result, command)
    assert {"missing": "not found", "not-executable": "not executable", "folder": "folder",
            "not-on-path": "not found"}[kind] in line
    with JobStore(store_dir, create=True) as store:
        job = store.get(job_id)
    assert (job.state, job.attempts) == ("pending", 0), "no job was taken"
