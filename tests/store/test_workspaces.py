"""Job workspaces: inputs staged and in place before the job can be pulled, a folder
per attempt, the committed one named in the resolved record, removed by purge once
the job is gone; bad input refused; nothing reached through a planted symlink."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from loophelpers import running, wait_for

from fsjobstore import CorruptJobFile, Job, JobAlreadyResolved, JobStore, Worker


def _job_with_input(store: JobStore, text: str = "hello") -> Job:
    staged = store.workspaces.stage()
    Path(staged, "in.txt").write_text(text)
    return store.workspaces.create(staged, {"n": 1}, task="t")


def test_an_attempts_folder_is_the_result_once_its_commit_wins(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    assert store.workspaces.get(store.create("no workspace").id) is None
    job = _job_with_input(store)
    before = store.workspaces.get(job.id)
    assert before is not None and before.files == ["input/in.txt"] and before.result is None
    lease = store.pull_work()
    assert lease is not None
    folder = store.workspaces.attempt(lease)
    Path(folder, "out.txt").write_text(Path(folder, "..", "..", "input", "in.txt").read_text().upper())
    store.workspaces.fulfill(lease, "done", folder)
    after = store.workspaces.get(job.id)
    assert after is not None and after.result == folder
    assert Path(after.result, "out.txt").read_text() == "HELLO"
    assert after.files == [f"attempts/{os.path.basename(folder)}/out.txt", "input/in.txt"]
    assert store.get(job.id).value == b"done"


def test_a_lost_leases_files_are_never_the_result(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = _job_with_input(store)
    late = store.pull_work()
    assert late is not None
    late_folder = store.workspaces.attempt(late)
    Path(late_folder, "out.txt").write_text("late")
    store.cancel(job.id)
    with pytest.raises(JobAlreadyResolved):  # (the fence: the job was resolved by someone else)
        store.workspaces.fulfill(late, "late", late_folder)
    assert (workspace := store.workspaces.get(job.id)) is not None and workspace.result is None
    late.release()
    store.retry(job.id)
    lease = store.pull_work()
    assert lease is not None
    folder = store.workspaces.attempt(lease)
    Path(folder, "out.txt").write_text("on time")
    store.workspaces.fulfill(lease, "on time", folder)
    workspace = store.workspaces.get(job.id)
    assert workspace is not None and workspace.result == folder != late_folder
    assert Path(late_folder, "out.txt").read_text() == "late"  # kept, named by nothing


def test_a_workers_handler_writes_in_its_attempts_folder(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    job = _job_with_input(store, "from the creator")

    def handler(_job: Job) -> str:
        folder = worker.workspace()
        assert folder is not None
        Path(folder, "copy.txt").write_text(Path(folder, "../../input/in.txt").read_text())
        return "copied"

    worker = Worker(store, handler, workspaces=True)
    with running(worker):
        wait_for(lambda: store.get(job.id).resolved, timeout=10, what="the job done")
    workspace = store.workspaces.get(job.id)
    assert workspace is not None and workspace.result is not None
    assert Path(workspace.result, "copy.txt").read_text() == "from the creator"
    assert worker.workspace() is None


def test_purge_removes_a_workspace_with_its_job(open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    store = open_store()
    gone = _job_with_input(store)
    store.fulfill(gone.id, "x")
    kept = _job_with_input(store)
    unused = store.workspaces.stage()
    fresh = store.workspaces.stage()
    long_ago = time.time() - 3600
    for path in (tmp_path / "store" / "workspaces" / gone.id, Path(unused)):
        os.utime(path, (long_ago, long_ago))
    assert store.purge(older_than=0) == 1
    folders = os.listdir(tmp_path / "store" / "workspaces")
    assert gone.id not in folders and kept.id in folders
    assert os.listdir(tmp_path / "store" / "workspaces" / ".staging") == [os.path.basename(fresh)]


def test_a_just_moved_in_workspace_whose_job_is_not_published_yet_is_kept(
        open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    store = open_store()
    (tmp_path / "store" / "workspaces" / "01M8WVV6RM3BFWJHTHDTT285G0").mkdir(parents=True)
    store.purge()
    assert os.listdir(tmp_path / "store" / "workspaces") == ["01M8WVV6RM3BFWJHTHDTT285G0"]


def test_bad_workspace_arguments_are_refused(open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    store = open_store()
    with pytest.raises(ValueError, match="is not a folder made by stage"):
        store.workspaces.create(tmp_path, 1)
    staged = store.workspaces.stage()
    job = store.workspaces.create(staged, 1)
    with pytest.raises(ValueError, match="gone, or given already"):
        store.workspaces.create(staged, 2)
    assert [j.id for j in store.jobs()] == [job.id]
    store.create(2)
    first, second = store.pull_work(), store.pull_work()
    assert first is not None and second is not None
    folder = store.workspaces.attempt(first)
    with pytest.raises(ValueError, match=f"is not an attempt folder of job {second.id}"):
        store.workspaces.fulfill(second, "x", folder)
    assert store.get(second.id).state == "running"


def test_a_symlink_planted_as_a_workspace_is_never_followed(open_store: Callable[..., JobStore],
                                                              tmp_path: Path) -> None:
    store = open_store()
    job = store.create(1)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "store" / "workspaces").mkdir()
    (tmp_path / "store" / "workspaces" / job.id).symlink_to(outside)
    assert store.workspaces.get(job.id) is None
    lease = store.pull_work()
    assert lease is not None
    with pytest.raises(CorruptJobFile):
        store.workspaces.attempt(lease)
    assert list(outside.iterdir()) == []
