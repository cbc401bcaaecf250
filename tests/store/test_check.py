"""Corrupt files on disk, and `check [--repair]`.

A job file truncated, garbage, empty, of another format version or naming another
id: ``get`` raises CorruptJobFile naming the file; ``jobs``, ``stats``, pulls and
the Worker / Notifier loops skip it, log it once and keep going; ``check``
reports it and ``check(repair=True)`` moves it, byte for byte, to ``quarantine/``
(never deleting a job). Every other kind of problem check knows is planted and
repaired too, and the CLI exits 0 only on a clean store.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from invariants import assert_check_clean, check_files, key_of, observe, pending_file, record_files, resolved_file

from fsjobstore import CorruptJobFile, JobNotFound, JobStore, Notifier, Worker
from fsjobstore.cli import cli

LEASE = 2.0


def _store(root: Path, **options: Any) -> JobStore:
    options.setdefault("lease_seconds", LEASE)
    options.setdefault("watch", False)
    options.setdefault("create", True)
    return JobStore(root, **options)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _garbage(data: bytes) -> bytes:
    return b"\x00\xff\xfe garbage \x80\x81" + os.urandom(64)


def _other_version(data: bytes) -> bytes:
    fields = json.loads(data)
    fields["format"] = 2
    return json.dumps(fields).encode()


def _other_id(data: bytes) -> bytes:
    fields = json.loads(data)
    fields["id"] = "0" * 26
    return json.dumps(fields).encode()


def _bad_state(data: bytes) -> bytes:
    fields = json.loads(data)
    fields["state"] = "exploded"
    return json.dumps(fields).encode()


def _bad_value(data: bytes) -> bytes:
    fields = json.loads(data)
    fields["value"], fields["value_encoding"] = "not base64 !!", "base64"
    return json.dumps(fields).encode()


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": _truncated,
    "garbage": _garbage,
    "empty": lambda data: b"",
    "not-an-object": lambda data: b"[1, 2, 3]\n",
    "format-2": _other_version,
    "other-id": _other_id,
    "unknown-state": _bad_state,
    "bad-value": _bad_value,
}


def _corrupt(path: str, how: str) -> bytes:
    with open(path, "rb") as handle:
        data = CORRUPTIONS[how](handle.read())
    with open(path, "wb") as handle:
        handle.write(data)
    return data


@pytest.mark.parametrize("how", list(CORRUPTIONS))
@pytest.mark.parametrize("where", ["pending", "resolved"])
def test_a_corrupt_job_file_is_named_skipped_reported_and_quarantined(
    tmp_path: Path, where: str, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path / "store")
    before = store.create({"n": 0}).id
    bad = store.create({"n": 1}).id
    after = store.create({"n": 2}).id
    if where == "resolved":
        for job_id in (before, bad, after):
            store.queue(job_id, "t")
            store.fulfill(job_id, f"value {job_id}")
    path = resolved_file(store.path, bad) if where == "resolved" else pending_file(store.path, bad)
    if how == "bad-value" and where == "pending":
        how = "truncated"  # a pending record has no value
    data = _corrupt(path, how)

    with pytest.raises(CorruptJobFile) as raised:
        store.get(bad)
    assert raised.value.path == path and path in str(raised.value)

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="fsjobstore"):
        assert [job.id for job in store.jobs()] == [before, after]
        stats = store.stats()  # counts pending/ by name (cheap), so only resolved ones are read
        if where == "resolved":
            assert stats["fulfilled"] == 2
        if where == "pending":
            pulled = []
            while (lease := store.pull_work()) is not None:
                pulled.append(lease.id)
                lease.release() if lease.id == before else lease.fulfill("ok")
                if len(pulled) > 5:
                    break
            assert bad not in pulled and after in pulled
            assert bad not in os.listdir(os.path.join(store.path, "leases", "work"))
        else:
            told = []
            while (note := store.pull_notification()) is not None:
                told.append(note.id)
                note.done(note.waiting)
            assert sorted(told) == sorted([before, after])
    told = [record.getMessage() for record in caplog.records if path in record.getMessage()]
    assert told, "the corrupt file was not logged"
    assert all("fsjobstore check --repair" in message for message in told), "the log says how to repair it"

    report = store.check()
    found = sorted((p.kind, p.path) for p in report.problems)
    # A resolved job that cannot be read has targets nobody can be told about:
    # its due marker and waiting targets are reported too (and the targets kept).
    consequences = [] if where == "pending" else [
        ("orphan-waiting", os.path.join(store.path, "waiting", bad)),
        ("stale-due", os.path.join(store.path, "due", bad)),
    ]
    assert found == sorted([("corrupt", path)] + consequences)
    assert not report.clean
    repaired = store.check(repair=True)
    assert [(p.kind, p.repaired) for p in repaired.problems if p.kind == "corrupt"] == [("corrupt", True)]
    if where == "resolved":
        shutil.rmtree(os.path.join(store.path, "waiting", bad))  # what a person does with the orphans
    assert not os.path.exists(path)
    moved = os.listdir(os.path.join(store.path, "quarantine"))
    assert len(moved) == 1 and bad in moved[0]
    with open(os.path.join(store.path, "quarantine", moved[0]), "rb") as handle:
        assert handle.read() == data, "quarantine changed the file"
    with pytest.raises(JobNotFound):
        store.get(bad)
    assert store.check().clean and not store.check().problems
    assert {job.id for job in store.jobs()} == {before, after}
    store.close()


def test_the_worker_loop_skips_a_corrupt_job_logs_it_and_keeps_going(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path / "store")
    ids = [store.create({"n": n}).id for n in range(5)]
    path = pending_file(store.path, ids[2])
    _corrupt(path, "garbage")
    done: list[str] = []

    def handler(job: Any) -> str:
        done.append(job.id)
        return f"done {job.request['n']}"

    worker = Worker(store, handler, poll_interval=0.05)
    with caplog.at_level(logging.ERROR, logger="fsjobstore"):
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while len(done) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # more passes over the corrupt file
        worker.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert sorted(done) == sorted(ids[:2] + ids[3:])
    for job_id in ids[:2] + ids[3:]:
        assert store.get(job_id).state == "fulfilled"
    assert [r for r in caplog.records if path in r.getMessage()], "the corrupt file was not logged"
    assert len([r for r in caplog.records if path in r.getMessage()]) == 1, "logged at every pass"
    store.close()


def test_the_notifier_loop_skips_a_corrupt_result_logs_it_and_keeps_going(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path / "store")
    ids = [store.create({"n": n}).id for n in range(4)]
    for job_id in ids:
        store.queue(job_id, {"to": job_id})
        store.fulfill(job_id, "v")
    path = resolved_file(store.path, ids[1])
    _corrupt(path, "truncated")
    delivered: list[Any] = []
    notifier = Notifier(store, lambda target, job: delivered.append(target["to"]), poll_interval=0.05)
    with caplog.at_level(logging.ERROR, logger="fsjobstore"):
        thread = threading.Thread(target=notifier.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while len(delivered) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        notifier.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert sorted(delivered) == sorted(ids[:1] + ids[2:])
    assert [r for r in caplog.records if path in r.getMessage()], "the corrupt file was not logged"
    store.close()


def test_a_corrupt_waiting_target_is_skipped_reported_and_quarantined(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path / "store")
    a = store.create("a").id
    store.queue(a, "good")
    store.queue(a, "bad")
    store.fulfill(a, "v")
    path = os.path.join(store.path, "waiting", a, key_of("bad") + ".json")
    Path(path).write_bytes(b'{"target": "ba')
    with caplog.at_level(logging.ERROR, logger="fsjobstore"):
        assert store.get(a).waiting == ("good",)
    assert [r for r in caplog.records if path in r.getMessage()]
    report = store.check()
    assert ("corrupt", path) in [(p.kind, p.path) for p in report.problems], (
        f"check did not report the corrupt target file; it found {report.problems}")
    store.check(repair=True)
    assert not os.path.exists(path) and len(os.listdir(os.path.join(store.path, "quarantine"))) == 1
    assert store.check().clean
    store.close()


# -- every problem check knows ---------------------------------------------------------------

def _age(path: str, seconds: float = 7200) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


def test_check_on_a_healthy_store_is_clean_and_counts_like_stats(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    ids = [store.create({"n": n}).id for n in range(6)]
    store.fulfill(ids[0], "v")
    store.fail(ids[1], "boom")
    store.cancel(ids[2])
    store.queue(ids[0], "t")
    lease = store.pull_work()
    assert lease is not None
    report = store.check()
    assert report.clean and report.problems == []
    stats = store.stats()
    assert dict(report.counts) == {k: v for k, v in stats.items() if k != "due" and v}
    assert report.leases == 1 and report.temp_files == 0
    lease.release()
    store.close()


def test_check_finds_and_repairs_every_kind_of_problem_without_deleting_a_job(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    root = store.path
    half = store.create("half-resolved").id
    store.queue(half, "t-half")
    not_due = store.create("not-due").id
    stale = store.create("stale-due").id
    plain = store.create("plain").id
    store.fulfill(plain, "v")
    # half-resolved: the result published, the pending record still there
    pending_record = Path(pending_file(root, half)).read_bytes()
    store.fulfill(half, "v")
    Path(pending_file(root, half)).write_bytes(pending_record)
    Path(root, "due", half).unlink()
    # not-due: a resolved job with a target and no due marker
    store.fulfill(not_due, "v")
    store.queue(not_due, "t")
    Path(root, "due", not_due).unlink()
    # stale-due: a due marker on a pending job
    Path(root, "due", stale).touch()
    # orphan-waiting: targets of a job that does not exist (reported, never deleted)
    orphan = "0" * 26
    os.makedirs(os.path.join(root, "waiting", orphan))
    Path(root, "waiting", orphan, key_of("x") + ".json").write_text(
        '{"target": "x", "queued_at": "2026-01-01T00:00:00.000000Z"}')
    # stray names
    Path(root, "pending", "notes.txt").write_text("hello")
    Path(root, "resolved", "bad id.json").write_text("{}")
    # old leftovers: a temp file, a half-broken lease, a lease on a job that is gone
    for path in (os.path.join(root, "tmp", "ab" * 16 + ".tmp"),
                 os.path.join(root, "leases", "work", plain + ".new-" + "cd" * 8),
                 os.path.join(root, "leases", "work", "1" * 26)):
        Path(path).write_bytes(b"{}")
        _age(path)
    # young leftovers are no problem
    Path(root, "tmp", "ef" * 16 + ".tmp").write_bytes(b"{")
    job_files = {os.path.basename(path): Path(path).read_bytes()
                 for folder in ("pending", "resolved") for path in record_files(root, folder)
                 if path.endswith(".json") and os.path.basename(path) != "bad id.json"}

    report = store.check()
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == sorted(["half-resolved", "not-due", "not-due", "stale-due", "orphan-waiting", "stray", "stray",
                            "leftover", "leftover", "orphan-lease"]), report.problems
    assert not report.clean and report.temp_files == 2

    repaired = store.check(repair=True)
    assert sorted(p.kind for p in repaired.problems) == kinds
    unrepaired = [p.kind for p in repaired.problems if not p.repaired]
    assert unrepaired == ["orphan-waiting"]  # targets of an unknown job: kept for a person to look at
    # Every job file is still there (a half-resolved job keeps its resolved record).
    for name, data in job_files.items():
        if name == half + ".json" and data == pending_record:
            continue
        found = [path for path in (pending_file(root, name[:-5]), resolved_file(root, name[:-5]))
                 if Path(path).exists() and Path(path).read_bytes() == data]
        assert found, f"repair lost job file {name}"
    assert os.path.exists(os.path.join(root, "waiting", orphan))
    assert len(os.listdir(os.path.join(root, "quarantine"))) == 2  # the two strays
    assert os.path.exists(os.path.join(root, "due", not_due)) and os.path.exists(os.path.join(root, "due", half))
    assert not os.path.exists(os.path.join(root, "due", stale))
    assert not os.path.exists(pending_file(root, half))
    assert os.listdir(os.path.join(root, "tmp")) == ["ef" * 16 + ".tmp"]
    again = store.check()
    assert [p.kind for p in again.problems] == ["orphan-waiting"]
    # Once the orphan is dealt with by hand, the store is clean and works.
    shutil.rmtree(os.path.join(root, "waiting", orphan))
    observe(store)
    check_files(root)
    assert_check_clean(store, frozenset())
    told = {}
    while (note := store.pull_notification()) is not None:
        told[note.id] = note.waiting
        note.done(note.waiting)
    assert told == {half: ["t-half"], not_due: ["t"]}
    store.close()


def test_check_reports_progress_on_large_stores(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", durable=False)
    for n in range(1200):
        store.create(n)
    seen: list[tuple[int, int]] = []
    assert store.check(progress=lambda done, total: seen.append((done, total))).clean
    assert seen and seen[-1] == (1200, 1200)
    store.close()


def test_check_repair_never_deletes_a_job_of_any_state(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    ids = [store.create(n).id for n in range(4)]
    store.fulfill(ids[0], "v")
    store.fail(ids[1], "e")
    store.cancel(ids[2])
    before = {job.id: (job.state, job.value) for job in store.jobs()}
    for path in (os.path.join(store.path, "leases", "work", ids[3]),):
        Path(path).write_bytes(b"")
        _age(path)
    assert store.check(repair=True).clean
    assert {job.id: (job.state if job.state != "running" else "pending", job.value) for job in store.jobs()} == before
    store.close()


# -- the command line -------------------------------------------------------------------------

def test_cli_check_exit_code_is_zero_only_when_clean(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    good = store.create("good").id
    bad = store.create("bad").id
    store.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", str(tmp_path / "store"), "check"])
    assert result.exit_code == 0, result.output
    assert "clean" in result.output
    path = Path(pending_file(tmp_path / "store", bad))
    path.write_bytes(b"{ truncated")
    result = runner.invoke(cli, ["--store", str(tmp_path / "store"), "check"])
    assert result.exit_code != 0
    assert "corrupt" in result.output and str(path) in result.output
    result = runner.invoke(cli, ["--store", str(tmp_path / "store"), "check", "--repair"])
    assert result.exit_code == 0, result.output
    assert "repaired" in result.output
    result = runner.invoke(cli, ["--store", str(tmp_path / "store"), "check"])
    assert result.exit_code == 0, result.output
    reopened = _store(tmp_path / "store")
    assert [job.id for job in reopened.jobs()] == [good]
    reopened.close()
