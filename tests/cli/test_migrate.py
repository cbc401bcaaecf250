"""`fsjobstore migrate`: a format 1 store (made by fsjobstore before format 2, kept
in tests/data/v1-store.tar.gz) is refused, then upgraded in place; a migration
killed midway is finished by running it again."""

from __future__ import annotations

import json
import os
import random
import signal
import tarfile
from pathlib import Path

import pytest
from clihelpers import assert_error, fsj, ok, popen
from invariants import assert_check_clean, check_files, observe, pending_file, resolved_file, tree

from fsjobstore import InvalidStore, JobStore

V1_STORE = Path(__file__).parent.parent / "data" / "v1-store.tar.gz"
# What the v1 store holds (made by the format 1 code: see the module docstring).
PENDING, WAITING = "01M8WTHD6QAS1G41CKY4539FDY", "01M8WTHD6S1W9W9Y8W6EP6TXTJ"
FULFILLED, DUE = "01M8WTHD6WKDX5XTX6M5ESB5VM", "01M8WTHD70S04Q5PDXX7EECEN0"
FAILED, CANCELLED = "01M8WTHD765ZVM4AJ32R31JM5V", "01M8WTHD79R6QYT8QAS9WE7705"


def v1_store(tmp_path: Path) -> Path:
    with tarfile.open(V1_STORE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "store"


def test_a_v1_store_is_refused_untouched_then_migrated_with_every_job(tmp_path: Path) -> None:
    root = v1_store(tmp_path)
    before = tree(root)
    with pytest.raises(InvalidStore, match="fsjobstore migrate"):
        JobStore(root, create=True)
    assert_error(fsj("ls", store=root), "format 1", "fsjobstore migrate")
    assert tree(root) == before, "opening a format 1 store changed it"

    assert ok(fsj("migrate", str(root))).startswith("moved 6 records")  # 4 resolved, 2 pending
    assert not [name for name in os.listdir(root / "resolved") if name.endswith(".json")]
    assert not [name for name in os.listdir(root / "pending") if name.endswith(".json")]
    check_files(root)
    with JobStore(root, durable=False) as store:
        jobs = observe(store)
        assert {job_id: job.state for job_id, job in jobs.items()} == {
            PENDING: "pending", WAITING: "pending", FULFILLED: "fulfilled", DUE: "fulfilled", FAILED: "failed",
            CANCELLED: "cancelled"}
        assert jobs[FULFILLED].value == b"three" and jobs[DUE].value == b"\x00\x01"
        assert list(jobs[WAITING].waiting) == ["target-b"] and jobs[FAILED].error == "boom"
        note = store.pull_notification()
        assert note is not None and note.id == DUE and list(note.waiting) == [{"to": "d"}]
        note.done(note.waiting)
        lease = store.pull_work()
        assert lease is not None and lease.id in (PENDING, WAITING)
        lease.fulfill("one")
        assert store.get(lease.id).value == b"one"
        assert_check_clean(store)
    assert ok(fsj("migrate", str(root))).startswith("moved 0 records"), "a second run has nothing to do"


def test_a_migration_killed_midway_is_finished_by_running_it_again(tmp_path: Path) -> None:
    root = v1_store(tmp_path)
    # Many more resolved records of format 1, in many buckets: copies of one under fresh ids.
    model = (root / "resolved" / f"{FULFILLED}.json").read_text()
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    rng = random.Random(7)
    copies = {"01M8" + "".join(rng.choice(alphabet) for _ in range(22)) for _ in range(20_000)}
    for job_id in copies:
        (root / "resolved" / f"{job_id}.json").write_text(model.replace(FULFILLED, job_id))

    child = popen("migrate", str(root))
    assert child.stderr is not None
    assert "migrating" in child.stderr.readline(), "no progress shown"  # (after its first thousand moves)
    child.send_signal(signal.SIGKILL)
    child.wait()
    flat = [name for name in os.listdir(root / "resolved") if name.endswith(".json")]
    assert 0 < len(flat) < len(copies), "the migration was not killed midway"
    with pytest.raises(InvalidStore, match="interrupted"):
        JobStore(root)

    ok(fsj("migrate", str(root), timeout=120))
    check_files(root)
    assert all(os.path.exists(resolved_file(root, job_id)) for job_id in copies)
    with JobStore(root, durable=False) as store:
        assert store.stats() == {"pending": 2, "blocked": 0, "running": 0, "fulfilled": 2 + len(copies), "failed": 1,
                                 "cancelled": 1, "expired": 0, "discarded": 0, "due": 1}
        assert_check_clean(store)


V1_STORE_FULL = Path(__file__).parent.parent / "data" / "v1-store-full.tar.gz"


def test_a_v1_store_using_every_feature_of_format_1_keeps_them_all_after_migrating(tmp_path: Path) -> None:
    # Made by the last format 1 code (tests/data/make_v1_store_full.py): queues,
    # priorities, labels, keys, a deadline passed, a discard, progress, a target
    # given up, a schedule, a pause, a limit.
    with tarfile.open(V1_STORE_FULL) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / "store"
    ids = json.loads((tmp_path / "ids.json").read_text())
    assert ok(fsj("migrate", str(root))).startswith("moved 10 records")  # 5 resolved, 5 pending
    check_files(root)
    with JobStore(root, durable=False) as store:
        jobs = observe(store)
        assert {name: jobs[job_id].state for name, job_id in ids.items()} == {
            "plain": "pending", "urgent": "pending", "addressed": "pending", "keyed": "pending",
            "keyed_done": "fulfilled", "expired": "expired", "discarded": "discarded", "progress": "pending",
            "given_up": "fulfilled", "due": "fulfilled"}
        assert store.stats()["due"] == 1
        assert jobs[ids["addressed"]].labels == {"to": "mailer-2", "sender": "api"}
        assert jobs[ids["progress"]].progress == {"frame": 12}
        assert jobs[ids["discarded"]].error == "not a valid request"
        assert [(f["target"], f["given_up"]) for f in jobs[ids["given_up"]].failed_deliveries] == [
            ("https://example.invalid/hook", True)]
        assert store.create({"order": 42}, key="order-42").id == ids["keyed"]
        store.delete(ids["keyed_done"])  # (frees its key)
        assert store.create({"order": 7}, key="order-7").id != ids["keyed_done"]
        assert [s.name for s in store.schedules.all()] == ["nightly"]
        assert [(p.task, p.reason) for p in store.pauses()] == [("render", "maintenance")]
        assert [(limit.kind, limit.name, limit.limit) for limit in store.limits()] == [("resource", "gpu", 2)]
        lease = store.pull_work(to="mailer-2")
        assert lease is not None and lease.id == ids["addressed"]
        lease.release()
        lease = store.pull_work()
        assert lease is not None and lease.id == ids["urgent"]  # (the highest priority first)
        lease.release()
        assert_check_clean(store)


V2_STORE_FULL = Path(__file__).parent.parent / "data" / "v2-store-full.tar.gz"


def test_a_v2_store_is_refused_untouched_then_migrated_with_each_pending_record_in_its_bucket(tmp_path: Path) -> None:
    # Made by the last format 2 code (tests/data/make_v2_store_full.py): pending jobs
    # made over ten hours, queues, an address, a key, a blocked job, progress, a
    # retry, a batch, a target due and one given up, a schedule, a pause, a limit.
    with tarfile.open(V2_STORE_FULL) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / "store"
    ids = json.loads((tmp_path / "ids.json").read_text())
    before = tree(root)
    with pytest.raises(InvalidStore, match="format 2.*fsjobstore migrate"):
        JobStore(root, create=True)
    assert tree(root) == before, "opening a format 2 store changed it"

    assert ok(fsj("migrate", str(root))).startswith("moved 67 records")  # every pending one: resolved are in buckets
    assert not [name for name in os.listdir(root / "pending") if name.endswith(".json")]
    # (a bucket per ~33 s: of the jobs of 1 to 10 hours ago, those of priority 0 and 1 alternately, and of now)
    assert len(os.listdir(root / "pending")) == 6 and len(os.listdir(root / "queues" / "any" / "p1")) == 5
    assert json.loads((root / "fsjobstore.json").read_text())["format"] == 3
    check_files(root)
    with JobStore(root, durable=False) as store:
        jobs = observe(store)
        assert len(jobs) == 70 and store.stats()["pending"] == 67
        for name in ("plain", "urgent", "addressed", "keyed", "oldest", "oldest_plain", "batch_last"):
            assert os.path.exists(pending_file(root, ids[name])), name
        assert jobs[ids["blocked"]].state == "blocked" and jobs[ids["retried"]].attempts == 1
        assert jobs[ids["progress"]].progress == {"frame": 12}
        assert store.create({"order": 42}, key="order-42").id == ids["keyed"]
        assert [job.id for job in store.jobs("pending", limit=2)] == [ids["oldest"], ids["oldest_plain"]], (
            "pages go by bucket, across queues")
        lease = store.pull_work(to="mailer-2")
        assert lease is not None and lease.id == ids["addressed"]
        lease.release()
        lease = store.pull_work(tasks=["parent"])
        assert lease is not None and lease.id == ids["parent"]
        lease.fulfill("done")
        assert store.get(ids["blocked"]).state == "pending", "released into its queue's bucket"
        assert os.path.exists(pending_file(root, ids["blocked"]))
        assert_check_clean(store)
    assert ok(fsj("migrate", str(root))).startswith("moved 0 records"), "a second run has nothing to do"
