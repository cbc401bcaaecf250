"""`fsjobstore work -- COMMAND`: no part of a command outlives its run.

A command stopped for any reason (its timeout, the worker stopping, its job
cancelled or its lease lost) gets SIGTERM and then SIGKILL for its whole process
group, and its job's lease is released only once none of its processes runs. A
worker killed before it could stop its commands leaves that to its reaper
process. Real processes throughout: the worker, the command, and a grandchild
the command starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelpers import (
    assert_error,
    fsj,
    ok,
    popen,
    read_pid,
    stop,
)
from loophelpers import wait_for
from processes import assert_gone, children, kill_leftovers, reaper_of, runs

from fsjobstore import Job, JobStore

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

# As SLOW and STUBBORN, but writing nothing to stdout or stderr once started
# (not even the shell's "Terminated" for a killed `sleep`): those pipes went with
# a killed worker, and a write to them would end the command with SIGPIPE.
SILENT = SLOW.replace("request=$(cat)", "request=$(cat); exec >/dev/null 2>&1")
SILENT_STUBBORN = STUBBORN.replace("cat > /dev/null", "cat > /dev/null; exec >/dev/null 2>&1")

# One command of several running at once: its pids are noted under its job's id.
EACH = """#!/bin/sh
cat > /dev/null
sleep 300 &
echo $! > "$MARKS/$FSJOBSTORE_JOB_ID.grandchild.pid"
echo $$ > "$MARKS/$FSJOBSTORE_JOB_ID.command.pid"
wait
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


def _delivering(store: JobStore, tmp_path: Path, marks: Path, script: str,
                *options: str) -> tuple[Job, subprocess.Popen[str]]:
    """A resolved job with one target, and `notify -- script` started to deliver it."""
    job = store.create("x")
    store.queue(job.id, "a client")
    store.fulfill(job.id, "v")
    command = _script(tmp_path, "deliver.sh", script)
    proc = popen("notify", "--poll-interval", "0.05", *options, "--", command, store=Path(store.path),
                 cwd=tmp_path, env={"MARKS": str(marks)})
    return job, proc


def test_notify_stopped_past_its_drain_timeout_terms_the_delivery_and_keeps_the_target_due(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job, proc = _delivering(store, tmp_path, marks, SLOW, "--drain-timeout", "0.5")
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
    assert not runs(command) and not runs(grandchild), "the job failed before its command was gone"


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


# -- the worker killed: its reaper stops its commands ----------------------------------------------


def test_a_sigkilled_workers_command_and_grandchild_are_stopped_by_its_reaper(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        store.create({"slow": True})
        proc = _worker(tmp_path, store_dir, marks, SILENT)
        try:
            command, grandchild = _started(marks)
            reaper = reaper_of(proc.pid)
            proc.kill()
            proc.wait()
            assert_gone(command, grandchild, reaper)
        finally:
            _, err = _finish(proc)
    assert _signals(marks) == ["TERM"] and (marks / "cleaned").exists(), "SIGTERM first, and time to clean up"
    assert f"worker {proc.pid} ended with commands running: stopping their process groups {command}" in err


def test_a_command_that_ignores_sigterm_is_killed_by_the_reaper_after_the_kill_grace(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        store.create({"slow": True})
        proc = _worker(tmp_path, store_dir, marks, SILENT_STUBBORN, "--kill-grace", "1")
        try:
            command, grandchild = _started(marks)
            proc.kill()
            wait_for(lambda: _signals(marks) == ["TERM"], timeout=10, what="the command to get SIGTERM")
            assert_gone(command, grandchild)
        finally:
            _finish(proc)


def test_every_command_of_a_sigkilled_worker_with_concurrency_is_stopped(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        jobs = [store.create({"n": n}).id for n in range(3)]
        proc = _worker(tmp_path, store_dir, marks, EACH, "--concurrency", "3")
        try:
            pids = [read_pid(marks / f"{job}.{kind}.pid") for job in jobs for kind in ("command", "grandchild")]
            proc.kill()
            assert_gone(*pids)
        finally:
            _finish(proc)
        assert [store.get(job).state for job in jobs] == ["running"] * 3, "their leases run out, not released"


def test_a_sigkilled_notifiers_delivery_is_stopped_by_its_reaper_and_stays_due(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job, proc = _delivering(store, tmp_path, marks, SILENT)
        try:
            pids = _started(marks)
            proc.kill()
            assert_gone(*pids)
        finally:
            _finish(proc)
        assert store.get(job.id).waiting == ("a client",)
    assert _signals(marks) == ["TERM"]


def test_a_worker_stopped_with_ctrl_c_stops_its_command_itself_and_its_reaper_exits_before_it(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job_id = store.create({"slow": True}).id
        proc = _worker(tmp_path, store_dir, marks, SLOW, "--drain-timeout", "0.5")
        try:
            command, grandchild = _started(marks)
            reaper = reaper_of(proc.pid)
            status, _out, err, _took = stop(proc, signal.SIGINT, timeout=20)
        finally:
            _finish(proc)
        assert store.get(job_id).state == "pending"
    assert status == 0, err
    assert _signals(marks) == ["TERM"], "stopped once, by the worker"
    assert "fsjobstore reaper" not in err, "the worker had stopped its command: nothing left for the reaper"
    assert not os.path.exists(f"/proc/{reaper}"), "the worker waited for its reaper: not even a zombie is left"
    assert_gone(command, grandchild)


def test_a_reaper_killed_by_hand_is_started_again_for_the_next_command(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    proc = _worker(tmp_path, store_dir, marks, SLOW)
    try:
        first = reaper_of(proc.pid)
        os.kill(first, signal.SIGKILL)
        with JobStore(store_dir, create=True) as store:
            store.create({"slow": True})
        command, grandchild = _started(marks)
        second = reaper_of(proc.pid)
        assert second != first and first not in children(proc.pid), "the dead reaper was waited for"
        proc.kill()
        assert_gone(command, grandchild)
    finally:
        _, err = _finish(proc)
    assert f"the reaper process {first} is gone" in err


# -- the lease lost while the worker lives ---------------------------------------------------------


def test_a_command_whose_lease_was_taken_over_is_stopped_and_the_worker_goes_on(
    tmp_path: Path, store_dir: Path, marks: Path
) -> None:
    with JobStore(store_dir, poll_interval=0.05, create=True) as store:
        job_id = store.create({"slow": True}, lease_seconds=1.0).id
        proc = _worker(tmp_path, store_dir, marks, SLOW)
        try:
            command, grandchild = _started(marks)
            proc.send_signal(signal.SIGSTOP)  # it cannot renew its lease: another takes the job over
            try:
                lease = wait_for(store.pull_work, timeout=20, what="the lease to expire")
            finally:
                proc.send_signal(signal.SIGCONT)
            assert lease.id == job_id
            assert_gone(command, grandchild)
            assert _signals(marks) == ["TERM"] and (marks / "cleaned").exists()
            lease.fulfill("the second holder's")
            quick = store.wait(store.create({"quick": True}).id, timeout=20)
            status, _out, err, _took = stop(proc)
        finally:
            _finish(proc)
        job = store.get(job_id)
    assert status == 0, err
    assert f"lost the lease on job {job_id}" in err
    assert (job.state, job.value) == ("fulfilled", b"the second holder's")
    assert (quick.state, quick.value) == ("fulfilled", b"done")
