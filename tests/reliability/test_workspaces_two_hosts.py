"""Job workspaces shared by two "hosts" (two bindfs mounts of one folder): inputs
staged on one are the job's input on the other, and results made on the other
are read on the first; a holder stopped past its lease, on one mount, never has
its files taken as the result once the job was taken over on the other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from test_two_hosts import mounts  # noqa: F401 - the two-mount fixture

from fsjobstore import JobStore

LEASE = 2.0


def test_inputs_staged_on_one_mount_become_results_made_on_the_other(
        mounts: tuple[str, str]) -> None:  # noqa: F811
    host_a, host_b = mounts
    with JobStore(host_a, create=True, durable=False) as store:
        staged = store.workspaces.stage()
        Path(staged, "in.txt").write_text("made on host a")
        job = store.workspaces.create(staged, {"n": 1})
    script = 'tr a-z A-Z < "$FSJOBSTORE_WORKSPACE/../../input/in.txt" > "$FSJOBSTORE_WORKSPACE/out.txt"; echo ok'
    done = subprocess.run([sys.executable, "-m", "fsjobstore", "--store", host_b, "work", "--workspaces", "--burst",
                           "--", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with JobStore(host_a, durable=False) as store:
        workspace = store.workspaces.get(job.id)
        assert workspace is not None and workspace.result is not None
        assert Path(workspace.result, "out.txt").read_text() == "MADE ON HOST A"
        assert store.get(job.id).text == "ok"  # (less its newline)
        assert workspace.result.startswith(host_a)


_HOLDER = textwrap.dedent("""
    import pathlib, sys
    from fsjobstore import JobAlreadyResolved, JobStore, LeaseLost
    store = JobStore(sys.argv[1], lease_seconds=float(sys.argv[2]), durable=False)
    lease = store.pull_work()
    folder = store.workspaces.attempt(lease)
    pathlib.Path(folder, "out.txt").write_text("late")
    print("ready", folder, flush=True)
    sys.stdin.readline()
    try:
        store.workspaces.fulfill(lease, "late", folder)
        print("committed", flush=True)
    except (LeaseLost, JobAlreadyResolved) as exc:
        print("refused", type(exc).__name__, flush=True)
""")


def test_a_stopped_holders_files_are_never_the_result(mounts: tuple[str, str]) -> None:  # noqa: F811
    host_a, host_b = mounts
    with JobStore(host_a, create=True, durable=False) as store:
        job = store.workspaces.create(store.workspaces.stage(), "work")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, host_a, str(LEASE)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        ready = holder.stdout.readline().split()
        assert ready[0] == "ready", ready
        late_folder = ready[1]
        holder.send_signal(signal.SIGSTOP)
        with JobStore(host_b, lease_seconds=LEASE, durable=False) as store:
            deadline = time.monotonic() + 30
            while (lease := store.pull_work()) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert lease is not None and lease.id == job.id
            folder = store.workspaces.attempt(lease)
            Path(folder, "out.txt").write_text("on time")
            store.workspaces.fulfill(lease, "on time", folder)
        holder.send_signal(signal.SIGCONT)
        holder.stdin.write("commit\n")
        holder.stdin.flush()
        assert holder.stdout.readline().split()[0] == "refused"
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGCONT)
            holder.kill()
            holder.wait()
    for host in (host_a, host_b):
        with JobStore(host, durable=False) as store:
            workspace = store.workspaces.get(job.id)
            assert workspace is not None and workspace.result is not None
            assert os.path.basename(workspace.result) == os.path.basename(folder) != os.path.basename(late_folder)
            assert Path(workspace.result, "out.txt").read_text() == "on time"
            assert store.get(job.id).value == b"on time"
