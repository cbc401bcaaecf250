"""Pauses on disk (``paused/``): the files, what a planted or broken one does, the
look a puller takes after linking its lease, and the cheap re-read rule."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fsjobstore import JobStore
from fsjobstore._files.values import value_key
from fsjobstore.interface import PAUSE_SEEN_WITHIN


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    with JobStore(tmp_path / "s", durable=True, create=True) as made:
        yield made


def test_each_pause_is_one_file_and_resume_removes_it(store: JobStore) -> None:
    folder = Path(store.path) / "paused"
    assert not folder.exists()  # made on first use: opening a store writes nothing
    store.pause(reason="moving")
    store.pause("resize")
    assert sorted(os.listdir(folder)) == sorted(["store.json", f"task-{value_key('resize')}.json"])
    whole = json.loads((folder / "store.json").read_text())
    assert whole["task"] is None and whole["reason"] == "moving" and whole["pid"] == os.getpid()
    assert json.loads((folder / f"task-{value_key('resize')}.json").read_text())["task"] == "resize"
    store.pause(reason="still moving")  # pausing again replaces who and why
    assert json.loads((folder / "store.json").read_text())["reason"] == "still moving"
    assert store.resume() and store.resume("resize")
    assert os.listdir(folder) == [] and store.pauses() == []


def test_a_store_pause_file_that_does_not_parse_still_pauses_the_store(store: JobStore) -> None:
    store.create("x")
    store.pause()
    (Path(store.path) / "paused" / "store.json").write_text("{torn")
    with JobStore(store.path) as other:
        assert [(p.task, p.reason) for p in other.pauses()] == [(None, "its pause file does not parse")]
        assert other.pull_work() is None


def test_planted_files_in_paused_pause_nothing(store: JobStore) -> None:
    store.create("x", task="t")
    folder = Path(store.path) / "paused"
    folder.mkdir()
    (folder / f"task-{value_key('t')}.json").write_text("not json")
    (folder / f"task-{value_key('u')}.json").write_text(json.dumps({"task": "t"}))  # names another task
    (folder / "notes.txt").write_text("hello")
    with JobStore(store.path) as other:
        assert other.pauses() == []
        lease = other.pull_work()
        assert lease is not None
        lease.release()


def test_a_symlink_planted_as_the_folder_is_never_followed(store: JobStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "store.json").write_text(json.dumps({"task": None}))
    (Path(store.path) / "paused").symlink_to(elsewhere)
    store.create("x")
    with JobStore(store.path) as other:
        assert other.pauses() == []
        assert other.pull_work() is not None
        with pytest.raises(Exception, match="symlink"):
            other.pause()
    assert os.listdir(elsewhere) == ["store.json"]


def test_a_pause_made_while_a_puller_links_its_lease_is_honoured(store: JobStore) -> None:
    """The puller looks at the pauses again after its link: a pause published
    between its first look and its link stops it, and the lease is given back."""
    store.create("x", task="t")
    with JobStore(store.path, durable=False) as puller, JobStore(store.path) as operator:
        leases = puller.context.work_leases
        acquire = leases.acquire
        pauses: list[str | None] = [None, "t"]

        def link_then_pause(name: str):  # type: ignore[no-untyped-def]
            lease = acquire(name)
            operator.pause(pauses[0])
            # (however coarse the folder's time stamps, the next look reads it again)
            time.sleep(PAUSE_SEEN_WITHIN)
            return lease

        leases.acquire = link_then_pause  # type: ignore[method-assign]
        for task in list(pauses):
            assert puller.pauses() == []  # its first look finds none
            assert puller.pull_work() is None
            assert store.holdings() == []
            assert operator.resume(task)
            pauses.pop(0)


def test_the_pause_files_are_read_again_only_when_the_folder_changes_or_a_second_passed(store: JobStore) -> None:
    store.pause("t", reason="first")
    path = Path(store.path) / "paused" / f"task-{value_key('t')}.json"
    with JobStore(store.path) as other:
        looked = time.monotonic()
        assert other.pauses()[0].reason == "first"
        # Rewritten in place: the folder does not change, so the listing is not read again...
        with open(path, "r+") as file:
            text = file.read().replace("first", "again")
            file.seek(0)
            file.write(text)
        if time.monotonic() - looked < PAUSE_SEEN_WITHIN:
            assert other.pauses()[0].reason == "first"
        # ... until PAUSE_SEEN_WITHIN has passed.
        time.sleep(PAUSE_SEEN_WITHIN)
        assert other.pauses()[0].reason == "again"
        # A change of the folder is seen at once.
        store.pause("u")
        assert [p.task for p in other.pauses()] == ["t", "u"]
